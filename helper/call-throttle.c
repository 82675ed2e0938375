#include "call-throttle.h"

struct _SgCallThrottle
{
  guint max_in_flight;
  guint in_flight;
  GQueue waiting; /* WaitingCall*, in order */
};

typedef struct
{
  SgCallStart start;
  gpointer data;
} WaitingCall;

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
  g_free (throttle);
}

void
sg_call_throttle_run (SgCallThrottle *throttle, SgCallStart start, gpointer data)
{
  if (throttle->in_flight < throttle->max_in_flight)
    {
      throttle->in_flight++;
      start (data);
      return;
    }
  WaitingCall *call = g_new (WaitingCall, 1);
  call->start = start;
  call->data = data;
  g_queue_push_tail (&throttle->waiting, call);
}

void
sg_call_throttle_done (SgCallThrottle *throttle)
{
  g_autofree WaitingCall *next = g_queue_pop_head (&throttle->waiting);

  if (next == NULL)
    {
      g_assert (throttle->in_flight > 0);
      throttle->in_flight--;
      return;
    }
  next->start (next->data);
}
