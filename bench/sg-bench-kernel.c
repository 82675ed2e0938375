/* sg-bench-kernel: the helper's kernel work on its own, through the helper's
 * own code (libseatgate-helper), without the daemon around it. Run it as root
 * in a network namespace of its own (bench/seatgate_bench.py does): it makes
 * table inet seatgate there.
 *
 *   sg-bench-kernel nft N [LAYOUT]
 *                            N rounds of each batch below, uid 1000 on port
 *                            5930: one line of batch times (ns) each. LAYOUT
 *                            (helper/nft-gate.h): plain (the default: one
 *                            plain table), persistent (one owned, persistent
 *                            table: Linux >= 6.9), backstop (the owned table
 *                            and its plain backstop of Linux 5.12-6.8, as on
 *                            6.3-6.8) or backstop-6.1 (the same without
 *                            DESTROYSETELEM: add-then-delete removal)
 *   sg-bench-kernel diag N   N sock_diag walks (IPv4 + IPv6 dumps, destroying
 *                            nothing): one line of times (ns)
 *
 * The lines of nft, each batch timed by the gate itself
 * (sg_nft_gate_last_batch_ns: sendmsg to the last answer):
 *   grant1       the helper's grant, NEWSETELEM (granted) alone, 1 ms after
 *                the last batch
 *   grant1_idle  the same after 50 ms of idle, as the helper's first batch
 *                after a pause: the kernel's code and data have left the
 *                caches by then
 *   grant        a grant after a cut: NEWSETELEM (granted) + DESTROYSETELEM
 *                (cut), 1 ms after the last batch
 *   revoke       DESTROYSETELEM (granted), right after a grant
 *   cut          NEWSETELEM (cut), right after a revoke
 * As in the helper, a socket listens to nf_tables notifications (its table
 * watch), so the kernel builds and sends them on every commit. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gio/gio.h>

#include "nft-gate.h"
#include "sock-destroy.h"
#include "table-watch.h"

static const guint16 ports[] = { 5930 };

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gboolean
match_none (guint32 uid, guint16 port, gpointer data)
{
  return FALSE;
}

static void
on_tampered (const char *what, gpointer user_data)
{
  fprintf (stderr, "sg-bench-kernel: the table changed under the benchmark: %s\n",
           what != NULL ? what : "notifications lost");
  exit (1);
}

/* Reads the notifications, outside the timed batches, as the helper's main
 * loop does after each. */
static void
drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
grant_revoke_rounds (SgNftGate *gate, int n, gulong pause_us, GString *grants, GError **error)
{
  for (int i = 0; i < n; i++)
    {
      g_usleep (pause_us);
      if (!sg_nft_gate_grant (gate, 1000, ports, 1, error))
        return FALSE;
      g_string_append_printf (grants, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      if (!sg_nft_gate_revoke (gate, 1000, ports, 1, error))
        return FALSE;
      drain ();
    }
  return TRUE;
}

static SgNftGate *
gate_for_layout (const char *layout, GError **error)
{
  SgNftGate *gate;

  if (g_str_equal (layout, "plain"))
    return sg_nft_gate_new (SG_TABLE_MODE_PLAIN, error);
  if (g_str_equal (layout, "persistent"))
    return sg_nft_gate_new (SG_TABLE_MODE_PERSISTENT, error);
  if (g_str_equal (layout, "backstop"))
    return sg_nft_gate_new (SG_TABLE_MODE_BACKSTOP, error);
  if (!g_str_equal (layout, "backstop-6.1"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "unknown layout %s: write plain, persistent, backstop or backstop-6.1", layout);
      return NULL;
    }
  /* As TableMode=auto on Debian 12's 6.1. */
  gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, error);
  if (gate != NULL)
    sg_nft_gate_limit_kernel (gate, SG_NFT_KERNEL_TABLE_OWNER);
  return gate;
}

static int
bench_nft (int n, const char *layout)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgNftGate) gate = gate_for_layout (layout, &error);
  g_autoptr (SgTableWatch) watch = NULL;
  g_autoptr (GString) grant1 = g_string_new ("grant1");
  g_autoptr (GString) grant1_idle = g_string_new ("grant1_idle");
  g_autoptr (GString) grant = g_string_new ("grant");
  g_autoptr (GString) revoke = g_string_new ("revoke");
  g_autoptr (GString) cut = g_string_new ("cut");

  if (gate == NULL || !sg_nft_gate_reset (gate, ports, 1, NULL, 0, &error)
      || (watch = sg_table_watch_new (sg_nft_gate_get_portid (gate), on_tampered, NULL, &error))
             == NULL)
    goto failed;

  /* Before any cut: a grant is one message, as in the helper. */
  if (!grant_revoke_rounds (gate, n, 1000, grant1, &error)
      || !grant_revoke_rounds (gate, n, 50000, grant1_idle, &error))
    goto failed;

  /* From the first cut on, a grant also clears its pairs from the cut set. */
  if (!sg_nft_gate_cut (gate, 1000, ports, 1, &error))
    goto failed;
  for (int i = 0; i < n; i++)
    {
      if (!sg_nft_gate_grant (gate, 1000, ports, 1, &error))
        goto failed;
      g_string_append_printf (grant, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      if (!sg_nft_gate_revoke (gate, 1000, ports, 1, &error))
        goto failed;
      g_string_append_printf (revoke, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      if (!sg_nft_gate_cut (gate, 1000, ports, 1, &error))
        goto failed;
      g_string_append_printf (cut, " %" G_GUINT64_FORMAT, sg_nft_gate_last_batch_ns (gate));
      drain ();
      /* As between a person's logins: the machine goes idle meanwhile. */
      g_usleep (1000);
    }
  printf ("%s\n%s\n%s\n%s\n%s\n", grant1->str, grant1_idle->str, grant->str, revoke->str, cut->str);
  return 0;

failed:
  fprintf (stderr, "sg-bench-kernel: %s\n", error->message);
  return 1;
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
  if ((argc == 3 || argc == 4) && g_str_equal (argv[1], "nft"))
    return bench_nft (atoi (argv[2]), argc == 4 ? argv[3] : "plain");
  if (argc == 3 && g_str_equal (argv[1], "diag"))
    return bench_diag (atoi (argv[2]));
  fprintf (stderr,
           "usage: sg-bench-kernel nft N [plain|persistent|backstop|backstop-6.1] | diag N\n");
  return 2;
}
