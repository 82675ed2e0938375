#include "call-throttle.h"

struct _SgCallThrottle
{
  guint max_in_flight;
  guint in_flight;
  GQueue waiting; /* Slot*, in order */
  gboolean freed; /* sg_call_throttle_free () came while calls were on their way */
};

/* One call: waiting for its turn, then on its way until it answers. */
typedef struct
{
  SgCallThrottle *throttle;
  SgCallStart start;
  GAsyncReadyCallback done;
  gpointer data;
} Slot;

SgCallThrottle *
sg_call_throttle_new (guint max_in_flight)
{
  g_return_val_if_fail (max_in_flight > 0, NULL);

  SgCallThrottle *throttle = g_new0 (SgCallThrottle, 1);
  throttle->max_in_flight = max_in_flight;
  g_queue_init (&throttle->waiting);
  return throttle;
}

void
sg_call_throttle_free (SgCallThrottle *throttle)
{
  if (throttle == NULL)
    return;
  g_queue_clear_full (&throttle->waiting, g_free);
  /* The slots on their way point here: the last of them frees it. */
  if (throttle->in_flight > 0)
    throttle->freed = TRUE;
  else
    g_free (throttle);
}

static void slot_answered (GObject *source, GAsyncResult *result, gpointer data);

static void
slot_start (Slot *slot)
{
  slot->throttle->in_flight++;
  slot->start (slot->data, slot_answered, slot);
}

/* The only place a slot is given back: every call answers exactly once. */
static void
slot_answered (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree Slot *slot = data;
  SgCallThrottle *throttle = slot->throttle;

  g_assert (throttle->in_flight > 0);
  throttle->in_flight--;
  if (throttle->freed)
    {
      if (throttle->in_flight == 0)
        g_free (throttle);
    }
  else
    {
      Slot *next = g_queue_pop_head (&throttle->waiting);
      if (next != NULL)
        slot_start (next);
    }
  slot->done (source, result, slot->data);
}

void
sg_call_throttle_run (SgCallThrottle *throttle, SgCallStart start, GAsyncReadyCallback done,
                      gpointer data)
{
  g_return_if_fail (!throttle->freed);

  Slot *slot = g_new (Slot, 1);
  slot->throttle = throttle;
  slot->start = start;
  slot->done = done;
  slot->data = data;
  if (throttle->in_flight < throttle->max_in_flight)
    slot_start (slot);
  else
    g_queue_push_tail (&throttle->waiting, slot);
}

guint
sg_call_throttle_get_in_flight (SgCallThrottle *throttle)
{
  return throttle->in_flight;
}
