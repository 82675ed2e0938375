#include <gio/gio.h>

#include "call-throttle.h"

/* Each call stands for a D-Bus call: a GTask the test answers when it
 * chooses, from the main loop, as GDBus answers. */
typedef struct
{
  GString *log;     /* "+a" a call started, "-a" its done ran, in order */
  GPtrArray *tasks; /* GTask*: started, not answered yet */
} Lab;

typedef struct
{
  Lab *lab;
  const char *name;
  gboolean nothing_to_send; /* answers at once, without a call */
  gboolean abandoned;       /* its owner has lost interest: the answer is dropped */
  guint n_done;
  gboolean answer; /* what done got, when not abandoned */
} Call;

static void
lab_init (Lab *lab)
{
  lab->log = g_string_new (NULL);
  lab->tasks = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
lab_clear (Lab *lab)
{
  g_assert_cmpuint (lab->tasks->len, ==, 0);
  g_ptr_array_unref (lab->tasks);
  g_string_free (lab->log, TRUE);
}

/* Runs what the main loop has ready, without blocking. */
static void
drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
start (gpointer data, GAsyncReadyCallback callback, gpointer callback_data)
{
  Call *call = data;

  g_string_append_printf (call->lab->log, "+%s ", call->name);
  if (call->nothing_to_send)
    {
      g_task_report_new_error (NULL, callback, callback_data, start, G_IO_ERROR,
                               G_IO_ERROR_CANCELLED, "nothing to send");
      return;
    }
  GTask *task = g_task_new (NULL, NULL, callback, callback_data);
  g_task_set_task_data (task, call, NULL);
  g_ptr_array_add (call->lab->tasks, task);
}

static void
done (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  gboolean answer = g_task_propagate_boolean (G_TASK (result), &error);

  call->n_done++;
  g_string_append_printf (call->lab->log, "-%s ", call->name);
  if (!call->abandoned)
    call->answer = answer;
}

/* The started call @name answers, and the main loop delivers it. */
static void
answer (Lab *lab, const char *name)
{
  for (guint i = 0; i < lab->tasks->len; i++)
    {
      GTask *task = lab->tasks->pdata[i];
      Call *call = g_task_get_task_data (task);
      if (g_str_equal (call->name, name))
        {
          g_task_return_boolean (task, TRUE);
          g_ptr_array_remove_index (lab->tasks, i);
          drain ();
          return;
        }
    }
  g_error ("call %s is not on its way", name);
}

static void
test_runs_up_to_the_limit_then_queues_in_order (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (2);
  Lab lab;
  lab_init (&lab);
  Call calls[] = { { .lab = &lab, .name = "a" },
                   { .lab = &lab, .name = "b" },
                   { .lab = &lab, .name = "c" },
                   { .lab = &lab, .name = "d" },
                   { .lab = &lab, .name = "e" } };

  for (guint i = 0; i < 4; i++)
    sg_call_throttle_run (throttle, start, done, &calls[i]);
  g_assert_cmpstr (lab.log->str, ==, "+a +b ");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 2);

  /* The freed slot goes to the next waiting call before the answer's done
   * runs: b's done may queue more without overtaking c. */
  answer (&lab, "b");
  g_assert_cmpstr (lab.log->str, ==, "+a +b +c -b ");
  answer (&lab, "a");
  g_assert_cmpstr (lab.log->str, ==, "+a +b +c -b +d -a ");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 2);
  answer (&lab, "d");
  answer (&lab, "c");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 0);

  /* With a slot free, the next call starts at once. */
  sg_call_throttle_run (throttle, start, done, &calls[4]);
  g_assert_cmpstr (lab.log->str, ==, "+a +b +c -b +d -a -d -c +e ");
  answer (&lab, "e");
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_assert_cmpuint (calls[i].n_done, ==, 1);
      g_assert_true (calls[i].answer);
    }
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 0);
  lab_clear (&lab);
}

static void
test_never_more_than_the_limit_on_their_way (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (3);
  Call calls[40];
  char names[40][4];
  guint most = 0;
  Lab lab;
  lab_init (&lab);

  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_snprintf (names[i], sizeof names[i], "%u", i);
      calls[i] = (Call){ .lab = &lab, .name = names[i] };
      /* Every seventh has nothing to send: it answers without a call. */
      calls[i].nothing_to_send = i % 7 == 0;
      sg_call_throttle_run (throttle, start, done, &calls[i]);
      most = MAX (most, sg_call_throttle_get_in_flight (throttle));
    }
  /* Answered newest first, so the order of answers is not the order asked. */
  drain ();
  while (lab.tasks->len > 0)
    {
      Call *newest = g_task_get_task_data (g_ptr_array_index (lab.tasks, lab.tasks->len - 1));
      answer (&lab, newest->name);
      most = MAX (most, sg_call_throttle_get_in_flight (throttle));
    }
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 0);
  g_assert_cmpuint (most, ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_assert_cmpuint (calls[i].n_done, ==, 1);
      g_assert_true (calls[i].answer == !calls[i].nothing_to_send);
    }
  lab_clear (&lab);
}

/* A start with nothing to send still answers, from the main loop: its slot
 * comes back once, and the next call gets it then, not from inside run. */
static void
test_a_call_with_nothing_to_send_gives_its_slot_back (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (1);
  Lab lab;
  lab_init (&lab);
  Call calls[]
      = { { .lab = &lab, .name = "a", .nothing_to_send = TRUE }, { .lab = &lab, .name = "b" } };

  sg_call_throttle_run (throttle, start, done, &calls[0]);
  sg_call_throttle_run (throttle, start, done, &calls[1]);
  g_assert_cmpstr (lab.log->str, ==, "+a ");
  drain ();
  g_assert_cmpstr (lab.log->str, ==, "+a +b -a ");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 1);
  answer (&lab, "b");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 0);
  g_assert_cmpuint (calls[0].n_done, ==, 1);
  g_assert_false (calls[0].answer);
  g_assert_cmpuint (calls[1].n_done, ==, 1);
  lab_clear (&lab);
}

/* The owner of a call on its way gives up (a Grant() whose caller left):
 * its answer still comes, the slot is given back exactly once, and the
 * calls behind it go on. */
static void
test_an_abandoned_call_gives_its_slot_back_once (void)
{
  g_autoptr (SgCallThrottle) throttle = sg_call_throttle_new (1);
  Lab lab;
  lab_init (&lab);
  Call calls[] = { { .lab = &lab, .name = "a" },
                   { .lab = &lab, .name = "b" },
                   { .lab = &lab, .name = "c" } };

  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    sg_call_throttle_run (throttle, start, done, &calls[i]);
  calls[0].abandoned = calls[1].abandoned = TRUE;
  answer (&lab, "a");
  answer (&lab, "b");
  g_assert_cmpstr (lab.log->str, ==, "+a +b -a +c -b ");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 1);
  answer (&lab, "c");
  g_assert_cmpuint (sg_call_throttle_get_in_flight (throttle), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    g_assert_cmpuint (calls[i].n_done, ==, 1);
  g_assert_false (calls[0].answer);
  g_assert_true (calls[2].answer);
  lab_clear (&lab);
}

/* Freed while a call is on its way: the waiting call never starts, the one on
 * its way still runs its done, and the throttle goes with it (ASan checks
 * that nothing is used after free or leaks). */
static void
test_freeing_drops_waiting_calls_and_keeps_answers (void)
{
  SgCallThrottle *throttle = sg_call_throttle_new (1);
  Lab lab;
  lab_init (&lab);
  Call calls[] = { { .lab = &lab, .name = "a" }, { .lab = &lab, .name = "b" } };

  sg_call_throttle_run (throttle, start, done, &calls[0]);
  sg_call_throttle_run (throttle, start, done, &calls[1]);
  sg_call_throttle_free (throttle);
  answer (&lab, "a");
  g_assert_cmpstr (lab.log->str, ==, "+a -a ");
  g_assert_cmpuint (calls[0].n_done, ==, 1);
  g_assert_cmpuint (calls[1].n_done, ==, 0);
  lab_clear (&lab);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/call-throttle/queues-in-order",
                   test_runs_up_to_the_limit_then_queues_in_order);
  g_test_add_func ("/call-throttle/max-in-flight", test_never_more_than_the_limit_on_their_way);
  g_test_add_func ("/call-throttle/nothing-to-send",
                   test_a_call_with_nothing_to_send_gives_its_slot_back);
  g_test_add_func ("/call-throttle/abandoned", test_an_abandoned_call_gives_its_slot_back_once);
  g_test_add_func ("/call-throttle/free-drops-waiting",
                   test_freeing_drops_waiting_calls_and_keeps_answers);
  return g_test_run ();
}
