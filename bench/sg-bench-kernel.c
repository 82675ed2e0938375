/* sg-bench-kernel: the helper's kernel work on its own, through the helper's
 * own code (libseatgate-helper), without the daemon around it. Run it as root
 * in a network namespace of its own (bench/seatgate_bench.py does): it makes
 * table inet seatgate there.
 *
 *   sg-bench-kernel nft N    N rounds of grant / revoke / cut of uid 1000 on
 *                            port 5930: one line of batch times (ns) each
 *   sg-bench-kernel diag N   N sock_diag walks (IPv4 + IPv6 dumps, destroying
 *                            nothing): one line of times (ns)
 *
 * A grant's batch is NEWSETELEM (granted) + DESTROYSETELEM (cut); a revoke's
 * DESTROYSETELEM (granted); a cut's NEWSETELEM (cut) alone: the cost of a
 * one-message batch. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <glib.h>

#include "nft-gate.h"
#include "sock-destroy.h"

static const guint16 ports[] = { 5930 };

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gboolean
match_none (guint32 uid, guint16 port, gpointer data)
{
  return FALSE;
}

static int
bench_nft (int n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_PLAIN, &error);
  g_autoptr (GString) grant = g_string_new ("grant");
  g_autoptr (GString) revoke = g_string_new ("revoke");
  g_autoptr (GString) cut = g_string_new ("cut");

  if (gate == NULL || !sg_nft_gate_reset (gate, ports, 1, NULL, 0, &error))
    {
      fprintf (stderr, "sg-bench-kernel: %s\n", error->message);
      return 1;
    }
  for (int i = 0; i < n; i++)
    {
      if (!sg_nft_gate_grant (gate, 1000, ports, 1, &error))
        break;
      g_string_append_printf (grant, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      if (!sg_nft_gate_revoke (gate, 1000, ports, 1, &error))
        break;
      g_string_append_printf (revoke, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      if (!sg_nft_gate_cut (gate, 1000, ports, 1, &error))
        break;
      g_string_append_printf (cut, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      /* As between a person's logins: the machine goes idle meanwhile. */
      g_usleep (1000);
    }
  if (error != NULL)
    {
      fprintf (stderr, "sg-bench-kernel: %s\n", error->message);
      return 1;
    }
  printf ("%s\n%s\n%s\n", grant->str, revoke->str, cut->str);
  return 0;
}

static int
bench_diag (int n)
{
  g_autoptr (GString) out = g_string_new ("diag");

  for (int i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      gint64 t0 = now_ns ();
      if (!sg_sock_destroy_matching (ports, 1, match_none, NULL, NULL, &error))
        {
          fprintf (stderr, "sg-bench-kernel: %s\n", error->message);
          return 1;
        }
      g_string_append_printf (out, " %" G_GINT64_FORMAT, now_ns () - t0);
      g_usleep (1000);
    }
  printf ("%s\n", out->str);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && g_str_equal (argv[1], "nft"))
    return bench_nft (atoi (argv[2]));
  if (argc == 3 && g_str_equal (argv[1], "diag"))
    return bench_diag (atoi (argv[2]));
  fprintf (stderr, "usage: sg-bench-kernel nft N | diag N\n");
  return 2;
}
