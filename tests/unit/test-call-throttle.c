#include <glib.h>

#include "call-throttle.h"

typedef struct
{
  GString *started; /* "a b c ": which calls started, in order */
} Log;

typedef struct
{
  Log *log;
  const char *name;
} Call;

static void
start (gpointer data)
{
  Call *call = data;
  g_string_append_printf (call->log->started, "%s ", call->name);
}

static void
test_runs_up_to_the_limit_then_queues_in_order (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (2);
  g_autoptr (GString) started = g_string_new (NULL);
  Log log = { started };
  Call calls[] = { { &log, "a" }, { &log, "b" }, { &log, "c" }, { &log, "d" } };

  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    sg_call_throttle_run (throttle, start, &calls[i]);
  g_assert_cmpstr (started->str, ==, "a b ");
  sg_call_throttle_done (throttle);
  g_assert_cmpstr (started->str, ==, "a b c ");
  sg_call_throttle_done (throttle);
  g_assert_cmpstr (started->str, ==, "a b c d ");
  /* Two on their way (c, d) after these two ends: the next runs at once. */
  sg_call_throttle_done (throttle);
  sg_call_throttle_done (throttle);
  Call e = { &log, "e" };
  sg_call_throttle_run (throttle, start, &e);
  g_assert_cmpstr (started->str, ==, "a b c d e ");
  sg_call_throttle_done (throttle);
}

/* A start that ends at once (nothing to send) hands its slot on from inside
 * sg_call_throttle_run (). */
typedef struct
{
  SgCallThrottle *throttle;
  GString *started;
  const char *name;
} Quick;

static void
start_and_end (gpointer data)
{
  Quick *quick = data;
  g_string_append_printf (quick->started, "%s ", quick->name);
  sg_call_throttle_done (quick->throttle);
}

static void
test_a_call_ending_at_once_frees_its_slot (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (1);
  g_autoptr (GString) started = g_string_new (NULL);
  Quick quick[] = { { throttle, started, "a" }, { throttle, started, "b" } };

  sg_call_throttle_run (throttle, start_and_end, &quick[0]);
  sg_call_throttle_run (throttle, start_and_end, &quick[1]);
  g_assert_cmpstr (started->str, ==, "a b ");
}

static void
test_freeing_drops_waiting_calls (void)
{
  SgCallThrottle *throttle = sg_call_throttle_new (1);
  g_autoptr (GString) started = g_string_new (NULL);
  Log log = { started };
  Call calls[] = { { &log, "a" }, { &log, "b" } };

  sg_call_throttle_run (throttle, start, &calls[0]);
  sg_call_throttle_run (throttle, start, &calls[1]);
  sg_call_throttle_free (throttle); /* b never starts; ASan checks nothing leaks */
  g_assert_cmpstr (started->str, ==, "a ");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/call-throttle/queues-in-order", test_runs_up_to_the_limit_then_queues_in_order);
  g_test_add_func ("/call-throttle/ending-at-once", test_a_call_ending_at_once_frees_its_slot);
  g_test_add_func ("/call-throttle/free-drops-waiting", test_freeing_drops_waiting_calls);
  return g_test_run ();
}
