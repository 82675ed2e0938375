/* The nftables gate, against the real kernel: real sockets of real uids. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/netfilter/nf_tables.h>

#include "kernel-test-util.h"
#include "nft-gate.h"
#include "sg-arrays.h"
#include "sock-destroy.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

#define PORT_A 5930    /* gated */
#define PORT_B 5931    /* gated */
#define PORT_FREE 5940 /* not gated */

#define ALICE 1000
#define BOB 1001
#define CAROL 1002 /* always allowed */
#define DAVE 1003

static const guint16 gated_ports[] = { PORT_A, PORT_B };
static const guint16 port_a[] = { PORT_A };
static const guint32 always_uids[] = { CAROL };

static void
remove_table (void)
{
  sg_ktest_nft ("delete table inet seatgate", NULL);
}

static SgNftGate *
gate_new_reset (SgTableMode mode)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (mode, &error);

  g_assert_no_error (error);
  sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), always_uids,
                     G_N_ELEMENTS (always_uids), &error);
  g_assert_no_error (error);
  return g_steal_pointer (&gate);
}

static void
assert_table_flags (guint32 expected)
{
  guint32 flags, owner;

  g_assert_true (sg_ktest_table_info (&flags, &owner));
  g_assert_cmphex (flags, ==, expected);
  if (expected & NFT_TABLE_F_OWNER)
    g_assert_cmpuint (owner, !=, 0);
  else
    g_assert_cmpuint (owner, ==, 0);
}

static void
check_deny_by_default (const char *addr)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);

  remove_table ();
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_A), 0);

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  /* ECONNREFUSED: a TCP reset came back at once (a drop would time out). */
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, addr, PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (0, addr, PORT_A), ECONNREFUSED);
}

static void
test_deny_by_default_v4 (void)
{
  check_deny_by_default ("127.0.0.1");
}

static void
test_deny_by_default_v6 (void)
{
  check_deny_by_default ("::1");
}

static void
test_granted_uid_connects_on_granted_port_only (void)
{
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestListener) listener_b = sg_ktest_listener_new (PORT_B, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);

  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_B), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_B), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "::1", PORT_A), ECONNREFUSED);
}

static void
test_grant_is_idempotent (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);

  sg_ktest_gate_grant (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_gate_grant (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  /* Not counted: one revoke ends it. */
  sg_ktest_gate_revoke (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static gboolean
match_alice (guint32 uid, guint16 port, gpointer user_data)
{
  return uid == ALICE;
}

static void
test_revoke_refuses_new_connects_established_survives_until_destroyed (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  g_autoptr (GError) error = NULL;
  int slot;
  guint n_destroyed = 0;

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_client_connect (alice, "127.0.0.1", PORT_A, 3000, &slot), 0);
  int server = sg_ktest_listener_accept (listener, AF_INET, 3000);
  g_assert_cmpint (server, >=, 0);

  sg_ktest_gate_revoke (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  /* Only the SYN is gated: the established connection still carries data. */
  sg_ktest_assert_errno (sg_ktest_client_send (alice, slot), 0);
  sg_ktest_assert_errno (sg_ktest_fd_recv (server, 3000), 0);
  sg_ktest_assert_errno (sg_ktest_fd_send (server), 0);
  sg_ktest_assert_errno (sg_ktest_client_recv (alice, slot, 3000), 0);

  g_assert_true (sg_sock_destroy_matching (port_a, 1, match_alice, NULL, &n_destroyed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_destroyed, ==, 1);
  sg_ktest_assert_connection_ended (sg_ktest_client_recv (alice, slot, 3000));
  sg_ktest_assert_connection_ended (sg_ktest_fd_recv (server, 3000));
  close (server);
}

static void
test_revoke_of_pairs_not_granted_succeeds (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);

  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));

  /* Half of the pairs granted, all revoked in one batch. */
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
}

static void
test_always_uid_connects (void)
{
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestListener) listener_b = sg_ktest_listener_new (PORT_B, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);

  sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, "127.0.0.1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, "::1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, "127.0.0.1", PORT_B), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, "::1", PORT_B), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_cut_rejects_established_traffic (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  g_autoptr (SgKtestClient) dave = sg_ktest_client_new (DAVE);
  g_autoptr (GError) error = NULL;
  int alice_slot, dave_slot;

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_gate_grant (gate, DAVE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_client_connect (alice, "::1", PORT_A, 3000, &alice_slot), 0);
  int alice_server = sg_ktest_listener_accept (listener, AF_INET6, 3000);
  g_assert_cmpint (alice_server, >=, 0);
  sg_ktest_assert_errno (sg_ktest_client_connect (dave, "::1", PORT_A, 3000, &dave_slot), 0);
  int dave_server = sg_ktest_listener_accept (listener, AF_INET6, 3000);
  g_assert_cmpint (dave_server, >=, 0);

  g_assert_true (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_no_error (error);

  /* Alice's next packet is answered by a reset; the server never sees it. */
  int err = sg_ktest_client_send (alice, alice_slot);
  if (err == 0)
    err = sg_ktest_client_recv (alice, alice_slot, 3000);
  sg_ktest_assert_errno (err, ECONNRESET);
  sg_ktest_assert_errno (sg_ktest_fd_recv (alice_server, 300), ETIMEDOUT);
  /* Even with her grant, a new connection is refused. */
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_A), ECONNREFUSED);

  /* Dave's pair was not cut. */
  sg_ktest_assert_errno (sg_ktest_client_send (dave, dave_slot), 0);
  sg_ktest_assert_errno (sg_ktest_fd_recv (dave_server, 3000), 0);

  close (alice_server);
  close (dave_server);
}

static void
test_grant_clears_cut (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (GError) error = NULL;
  g_autofree char *listing = NULL;

  g_assert_true (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_no_error (error);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  g_assert_cmpint (sg_ktest_nft ("list set inet seatgate cut", &listing), ==, 0);
  g_assert_null (strstr (listing, "elements"));
}

static guint
count_substrings (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *at = strstr (haystack, needle); at != NULL; at = strstr (at + 1, needle))
    n++;
  return n;
}

static char *
list_output_chain (void)
{
  char *listing = NULL;

  g_assert_cmpint (sg_ktest_nft ("list chain inet seatgate output", &listing), ==, 0);
  return listing;
}

/* The cut rule costs every TCP packet a uid and a set lookup: it is there
 * only from the first cut to the next reset, first in the chain (so a cut
 * pair's SYN is refused even for an always-allowed uid), and only once. */
static void
test_cut_rule_only_from_first_cut_to_reset (void)
{
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (GError) error = NULL;
  g_autofree char *before = list_output_chain ();

  g_assert_null (strstr (before, "@cut"));

  g_assert_true (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_no_error (error);
  g_assert_true (sg_nft_gate_cut (gate, CAROL, port_a, 1, &error));
  g_assert_no_error (error);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  g_autofree char *cut = list_output_chain ();
  g_assert_cmpuint (count_substrings (cut, "@cut"), ==, 1);
  g_assert_nonnull (strstr (cut, "@always"));
  g_assert_true (strstr (cut, "@cut") < strstr (cut, "@always"));

  g_assert_true (sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), always_uids,
                                    G_N_ELEMENTS (always_uids), &error));
  g_assert_no_error (error);
  g_autofree char *after = list_output_chain ();
  g_assert_null (strstr (after, "@cut"));
}

/* A cut the kernel refused added no rule either: the next cut must. */
static void
test_cut_after_a_refused_cut_is_enforced (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_PLAIN);
  g_autoptr (GError) error = NULL;

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  g_assert_cmpint (sg_ktest_nft ("delete set inet seatgate cut", NULL), ==, 0);
  g_assert_false (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  sg_ktest_nft_load ("add set inet seatgate cut { type uid . inet_service; }\n");
  g_assert_true (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_no_error (error);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_A), ECONNREFUSED);
  g_autofree char *listing = list_output_chain ();
  g_assert_cmpuint (count_substrings (listing, "@cut"), ==, 1);
}

static void
test_reset_drops_grants (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (GError) error = NULL;
  g_autofree char *listing = NULL;

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  g_assert_true (sg_nft_gate_cut (gate, BOB, port_a, 1, &error));
  g_assert_no_error (error);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  g_assert_true (sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), always_uids,
                                    G_N_ELEMENTS (always_uids), &error));
  g_assert_no_error (error);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  g_assert_cmpint (sg_ktest_nft ("list set inet seatgate granted", &listing), ==, 0);
  g_assert_null (strstr (listing, "elements"));
  g_clear_pointer (&listing, g_free);
  g_assert_cmpint (sg_ktest_nft ("list set inet seatgate cut", &listing), ==, 0);
  g_assert_null (strstr (listing, "elements"));
}

static void
test_reset_replaces_existing_table_with_grants (void)
{
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestListener) listener_free = sg_ktest_listener_new (PORT_FREE, FALSE);
  g_autofree char *listing = NULL;

  /* A table of the same name, left by someone else, with a grant in it and
   * a chain the gate does not have. */
  remove_table ();
  sg_ktest_nft_load ("table inet seatgate {\n"
                     "  set granted { type uid . inet_service; elements = { 1000 . 5930 }; }\n"
                     "  chain extra { type filter hook output priority 10; "
                     "tcp dport 5940 reject with tcp reset; }\n"
                     "}\n");
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_FREE), ECONNREFUSED);

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_FREE), 0);
  g_assert_cmpint (sg_ktest_nft ("list table inet seatgate", &listing), ==, 0);
  g_assert_null (strstr (listing, "extra"));
  g_assert_null (strstr (listing, "1000 . 5930"));
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
}

static void
test_reset_takes_over_table_of_killed_helper (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  int ready[2];
  char byte;

  remove_table ();
  g_assert_no_errno (pipe (ready));
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* A helper that granted Alice and is then killed. */
      SgNftGate *gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);
      if (gate == NULL
          || !sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, NULL)
          || !sg_nft_gate_grant (gate, ALICE, port_a, 1, NULL) || write (ready[1], "r", 1) != 1)
        _exit (1);
      pause ();
      _exit (0);
    }
  close (ready[1]);
  g_assert_cmpint (read (ready[0], &byte, 1), ==, 1);
  close (ready[0]);
  g_assert_no_errno (kill (pid, SIGKILL));
  g_assert_cmpint (waitpid (pid, NULL, 0), ==, pid);

  /* The kernel kept the table, orphaned, with everything in it. */
  assert_table_flags (NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_assert_true (sg_nft_gate_is_owned (gate));
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_owned_persistent_flags_are_set (void)
{
  g_autofree char *json = NULL;

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_assert_true (sg_nft_gate_is_owned (gate));
  g_assert_true (sg_nft_gate_is_persistent (gate));
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
  g_assert_cmpint (sg_ktest_nft ("-j list table inet seatgate", &json), ==, 0);
  g_assert_nonnull (strstr (json, "\"owner\""));
  g_clear_pointer (&gate, sg_nft_gate_free);

  gate = gate_new_reset (SG_TABLE_MODE_PERSISTENT);
  g_assert_true (sg_nft_gate_is_owned (gate));
  g_assert_true (sg_nft_gate_is_persistent (gate));
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
}

static void
test_owned_table_survives_flush_ruleset_and_delete (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autofree char *output = NULL;

  g_assert_cmpint (sg_ktest_nft ("flush ruleset", NULL), ==, 0);
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  g_assert_cmpint (sg_ktest_nft ("delete table inet seatgate", &output), !=, 0);
  g_assert_nonnull (strstr (output, "Operation not permitted"));
  g_clear_pointer (&output, g_free);
  g_assert_cmpint (sg_ktest_nft ("flush table inet seatgate", &output), !=, 0);
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  /* The gate itself still changes it. */
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
}

static void
test_table_and_deny_outlive_the_gate (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  g_clear_pointer (&gate, sg_nft_gate_free);

  /* Orphaned: no owner, still persistent, still denying. */
  assert_table_flags (NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);

  gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  assert_table_flags (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_second_live_gate_is_busy (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) first = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (SgNftGate) second = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (second);
  g_assert_false (
      sg_nft_gate_reset (second, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "another seatgate-helper"));
  g_clear_error (&error);
  g_assert_false (sg_nft_gate_grant (second, ALICE, port_a, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);

  /* The first gate's table is untouched and still its own. */
  sg_ktest_gate_grant (first, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, "127.0.0.1", PORT_A), 0);
}

static void
test_plain_mode_makes_a_plain_table (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);

  /* Over an orphaned persistent table, which must go too. */
  sg_nft_gate_free (gate_new_reset (SG_TABLE_MODE_AUTO));
  assert_table_flags (NFT_TABLE_F_PERSIST);

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_PLAIN);
  g_assert_false (sg_nft_gate_is_owned (gate));
  g_assert_false (sg_nft_gate_is_persistent (gate));
  assert_table_flags (0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  /* A plain table is anyone's (root's) to delete. */
  g_assert_cmpint (sg_ktest_nft ("delete table inet seatgate", NULL), ==, 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
}

static void
test_nft_list_shows_uids_and_ports (void)
{
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (GError) error = NULL;
  g_autofree char *listing = NULL;
  const guint16 port_b[] = { PORT_B };

  sg_ktest_gate_grant (gate, 100000, port_a, 1);
  g_assert_true (sg_nft_gate_cut (gate, BOB, port_b, 1, &error));
  g_assert_no_error (error);

  g_assert_cmpint (sg_ktest_nft ("list table inet seatgate", &listing), ==, 0);
  g_test_message ("%s", listing);
  g_assert_nonnull (strstr (listing, "type uid . inet_service"));
  g_assert_nonnull (strstr (listing, "elements = { 5930, 5931 }"));
  g_assert_nonnull (strstr (listing, "elements = { 100000 . 5930 }"));
  g_assert_nonnull (strstr (listing, "elements = { 1001 . 5931 }"));
  g_assert_nonnull (strstr (listing, "elements = { 1002 }"));
}

static void
test_ungated_ports_untouched (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_FREE, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (GError) error = NULL;

  g_assert_true (sg_nft_gate_cut (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports), &error));
  g_assert_no_error (error);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_FREE), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_FREE), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_FREE), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (0, "::1", PORT_FREE), 0);
}

static void
test_many_short_connections_of_granted_uid_succeed (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  guint n_ok = 0;

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_client_connect_loop (alice, "127.0.0.1", PORT_A, 500, &n_ok), 0);
  g_assert_cmpuint (n_ok, ==, 500);
  sg_ktest_assert_errno (sg_ktest_client_connect_loop (alice, "::1", PORT_A, 500, &n_ok), 0);
  g_assert_cmpuint (n_ok, ==, 500);
}

static void
test_remote_connection_to_gated_port_is_dropped (void)
{
  g_autoptr (SgKtestRemote) remote = sg_ktest_remote_new ();
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, TRUE);
  g_autoptr (SgKtestListener) listener_free = sg_ktest_listener_new (PORT_FREE, TRUE);
  g_autoptr (SgKtestClient) far = sg_ktest_client_new_in_netns (0, remote->netns_path);

  remove_table ();
  sg_ktest_assert_errno (sg_ktest_client_connect (far, "10.99.0.1", PORT_A, 3000, NULL), 0);

  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_AUTO);
  /* Dropped, not reset: the remote side only times out. */
  sg_ktest_assert_errno (sg_ktest_client_connect (far, "10.99.0.1", PORT_A, 1500, NULL), ETIMEDOUT);
  sg_ktest_assert_errno (sg_ktest_client_connect (far, "10.99.0.1", PORT_FREE, 3000, NULL), 0);
}

static void
test_errors_carry_the_kernels_cause (void)
{
  g_autoptr (GError) error = NULL;

  remove_table ();
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, &error);
  g_assert_no_error (error);
  g_assert_false (sg_nft_gate_grant (gate, ALICE, port_a, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, g_strerror (ENOENT)));
  g_assert_nonnull (strstr (error->message, "granted"));
  g_assert_nonnull (strstr (error->message, "1000"));
}

/* After a cut, a grant is two messages: add to granted, then remove from cut.
 * Replaces the table by @table, in which one of them must fail, and returns
 * the grant's error, which must be ENOENT. */
static GError *
grant_refused_in (SgNftGate *gate, const char *table)
{
  GError *error = NULL;

  g_assert_true (sg_nft_gate_cut (gate, ALICE, port_a, 1, &error));
  g_assert_no_error (error);
  remove_table ();
  sg_ktest_nft_load (table);
  g_assert_false (sg_nft_gate_grant (gate, ALICE, port_a, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, g_strerror (ENOENT)));
  return error;
}

/* Only a batch's last message asks for an ACK: a refusal of an earlier one
 * must still reach the caller, although the last message succeeds. */
static void
test_refusal_before_the_last_message_is_reported (void)
{
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_PLAIN);
  g_autofree char *listing = NULL;
  g_autoptr (GError) error = grant_refused_in (
      gate, "table inet seatgate {\n"
            "  set cut { type uid . inet_service; elements = { 1000 . 5930 }; }\n"
            "}\n");

  g_assert_nonnull (strstr (error->message, "uid 1000 on port(s) 5930 to set granted"));
  /* One transaction: the removal from cut was undone with it. */
  g_assert_cmpint (sg_ktest_nft ("list set inet seatgate cut", &listing), ==, 0);
  g_assert_nonnull (strstr (listing, "1000 . 5930"));
}

static void
test_refusal_of_the_last_message_is_reported (void)
{
  g_autoptr (SgNftGate) gate = gate_new_reset (SG_TABLE_MODE_PLAIN);
  g_autofree char *listing = NULL;
  g_autoptr (GError) error = grant_refused_in (gate, "table inet seatgate {\n"
                                                     "  set granted { type uid . inet_service; }\n"
                                                     "}\n");

  g_assert_nonnull (strstr (error->message, "uid 1000 on port(s) 5930 from set cut"));
  g_assert_cmpint (sg_ktest_nft ("list set inet seatgate granted", &listing), ==, 0);
  g_assert_null (strstr (listing, "elements"));
}

/* A batch larger than the socket's default send buffer (16,000 ports: 256
 * KiB against 208 KiB) still goes as one transaction, and the gate keeps
 * working. */
static void
test_reset_with_many_ports_gates_them_all (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ports = g_array_new (FALSE, FALSE, sizeof (guint16));

  for (guint port = 1024; port < 1024 + 16000; port++)
    {
      guint16 p = (guint16) port;
      g_array_append_val (ports, p);
    }
  g_assert_true (sg_nft_gate_reset (gate, sg_array_ports (ports), ports->len, NULL, 0, &error));
  g_assert_no_error (error);
  g_test_message ("reset of %u ports: %" G_GUINT64_FORMAT " ns", ports->len,
                  sg_nft_gate_last_batch_ns (gate));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_last_batch_time_is_recorded (void)
{
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);

  g_assert_cmpuint (sg_nft_gate_last_batch_ns (gate), ==, 0);
  g_assert_true (sg_nft_gate_reset (gate, gated_ports, 2, NULL, 0, NULL));
  g_assert_cmpuint (sg_nft_gate_last_batch_ns (gate), >, 0);
  g_test_message ("reset: %" G_GUINT64_FORMAT " ns", sg_nft_gate_last_batch_ns (gate));
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  g_assert_cmpuint (sg_nft_gate_last_batch_ns (gate), >, 0);
  g_test_message ("grant: %" G_GUINT64_FORMAT " ns", sg_nft_gate_last_batch_ns (gate));
}

static void
test_gate_free_closes_its_socket (void)
{
  guint before = sg_ktest_count_fds ();

  for (int i = 0; i < 5; i++)
    sg_nft_gate_free (gate_new_reset (SG_TABLE_MODE_AUTO));
  g_assert_cmpuint (sg_ktest_count_fds (), ==, before);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  sg_ktest_add ("/nft-gate/deny-by-default-v4", test_deny_by_default_v4);
  sg_ktest_add ("/nft-gate/deny-by-default-v6", test_deny_by_default_v6);
  sg_ktest_add ("/nft-gate/granted-uid-connects-on-granted-port-only",
                test_granted_uid_connects_on_granted_port_only);
  sg_ktest_add ("/nft-gate/grant-is-idempotent", test_grant_is_idempotent);
  sg_ktest_add ("/nft-gate/revoke-refuses-new-connects-established-survives-until-destroyed",
                test_revoke_refuses_new_connects_established_survives_until_destroyed);
  sg_ktest_add ("/nft-gate/revoke-of-pairs-not-granted-succeeds",
                test_revoke_of_pairs_not_granted_succeeds);
  sg_ktest_add ("/nft-gate/always-uid-connects", test_always_uid_connects);
  sg_ktest_add ("/nft-gate/cut-rejects-established-traffic", test_cut_rejects_established_traffic);
  sg_ktest_add ("/nft-gate/grant-clears-cut", test_grant_clears_cut);
  sg_ktest_add ("/nft-gate/cut-rule-only-from-first-cut-to-reset",
                test_cut_rule_only_from_first_cut_to_reset);
  sg_ktest_add ("/nft-gate/cut-after-a-refused-cut-is-enforced",
                test_cut_after_a_refused_cut_is_enforced);
  sg_ktest_add ("/nft-gate/reset-drops-grants", test_reset_drops_grants);
  sg_ktest_add ("/nft-gate/reset-replaces-existing-table-with-grants",
                test_reset_replaces_existing_table_with_grants);
  sg_ktest_add ("/nft-gate/reset-takes-over-table-of-killed-helper",
                test_reset_takes_over_table_of_killed_helper);
  sg_ktest_add ("/nft-gate/owned-persistent-flags-are-set", test_owned_persistent_flags_are_set);
  sg_ktest_add ("/nft-gate/owned-table-survives-flush-ruleset-and-delete",
                test_owned_table_survives_flush_ruleset_and_delete);
  sg_ktest_add ("/nft-gate/table-and-deny-outlive-the-gate", test_table_and_deny_outlive_the_gate);
  sg_ktest_add ("/nft-gate/second-live-gate-is-busy", test_second_live_gate_is_busy);
  sg_ktest_add ("/nft-gate/plain-mode-makes-a-plain-table", test_plain_mode_makes_a_plain_table);
  sg_ktest_add ("/nft-gate/nft-list-shows-uids-and-ports", test_nft_list_shows_uids_and_ports);
  sg_ktest_add ("/nft-gate/ungated-ports-untouched", test_ungated_ports_untouched);
  sg_ktest_add ("/nft-gate/many-short-connections-of-granted-uid-succeed",
                test_many_short_connections_of_granted_uid_succeed);
  sg_ktest_add ("/nft-gate/remote-connection-to-gated-port-is-dropped",
                test_remote_connection_to_gated_port_is_dropped);
  sg_ktest_add ("/nft-gate/errors-carry-the-kernels-cause", test_errors_carry_the_kernels_cause);
  sg_ktest_add ("/nft-gate/refusal-before-the-last-message-is-reported",
                test_refusal_before_the_last_message_is_reported);
  sg_ktest_add ("/nft-gate/refusal-of-the-last-message-is-reported",
                test_refusal_of_the_last_message_is_reported);
  sg_ktest_add ("/nft-gate/reset-with-many-ports-gates-them-all",
                test_reset_with_many_ports_gates_them_all);
  sg_ktest_add ("/nft-gate/last-batch-time-is-recorded", test_last_batch_time_is_recorded);
  sg_ktest_add ("/nft-gate/gate-free-closes-its-socket", test_gate_free_closes_its_socket);

  return g_test_run ();
}
