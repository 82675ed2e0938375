/* The nftables gate's layouts for older kernels, run for real on this one:
 * the gate is told which kernel features to do without
 * (sg_nft_gate_limit_kernel), so it makes exactly the tables it makes there.
 * "61": Linux 5.12-6.8, e.g. Debian 12's 6.1 (NFT_TABLE_F_OWNER, no
 * NFT_TABLE_F_PERSIST, no DESTROYSETELEM): an owned table inet seatgate_owned
 * and a plain backstop inet seatgate. "pre512": no OWNER either. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/netfilter/nf_tables.h>

#include "kernel-test-util.h"
#include "nft-gate.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

#define PORT_A 5930    /* gated */
#define PORT_B 5931    /* gated */
#define PORT_FREE 5940 /* not gated */

#define ALICE 1000
#define BOB 1001
#define CAROL 1002 /* always allowed */

/* Linux 6.1: the owner flag, nothing newer. */
#define KERNEL_61 SG_NFT_KERNEL_TABLE_OWNER

static const guint16 gated_ports[] = { PORT_A, PORT_B };
static const guint16 port_a[] = { PORT_A };
static const guint32 always_uids[] = { CAROL };

static void
remove_tables (void)
{
  sg_ktest_nft ("delete table inet seatgate", NULL);
  sg_ktest_nft ("delete table inet seatgate_owned", NULL);
}

static SgNftGate *
gate_new_as (SgTableMode mode, SgNftKernelFeatures features)
{
  g_autoptr (GError) error = NULL;
  SgNftGate *gate = sg_nft_gate_new (mode, &error);

  g_assert_no_error (error);
  sg_nft_gate_limit_kernel (gate, features);
  return gate;
}

static void
gate_reset (SgNftGate *gate)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), always_uids,
                                    G_N_ELEMENTS (always_uids), &error));
  g_assert_no_error (error);
}

static SgNftGate *
gate_61 (void)
{
  SgNftGate *gate = gate_new_as (SG_TABLE_MODE_AUTO, KERNEL_61);

  gate_reset (gate);
  g_assert_cmpint (sg_nft_gate_get_layout (gate), ==, SG_NFT_LAYOUT_BACKSTOP);
  return gate;
}

static void
gate_cut (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sg_nft_gate_cut (gate, uid, ports, n_ports, &error));
  g_assert_no_error (error);
}

/* FALSE if table inet @name is missing; else its flags must be @flags, with
 * an owner exactly when OWNER is among them. */
static gboolean
table_has_flags (const char *name, guint32 flags)
{
  guint32 got, owner;

  if (!sg_ktest_table_info_of (name, &got, &owner))
    return FALSE;
  g_assert_cmphex (got, ==, flags);
  if (flags & NFT_TABLE_F_OWNER)
    g_assert_cmpuint (owner, !=, 0);
  else
    g_assert_cmpuint (owner, ==, 0);
  return TRUE;
}

static void
assert_layout_61_tables (void)
{
  g_assert_true (table_has_flags ("seatgate_owned", NFT_TABLE_F_OWNER));
  g_assert_true (table_has_flags ("seatgate", 0));
}

static char *
nft_list (const char *what)
{
  char *listing = NULL;
  g_autofree char *args = g_strdup_printf ("list %s", what);

  g_assert_cmpint (sg_ktest_nft (args, &listing), ==, 0);
  return listing;
}

static void
assert_set_has (const char *table, const char *set, const char *element, gboolean has)
{
  g_autofree char *what = g_strdup_printf ("set inet %s %s", table, set);
  g_autofree char *listing = nft_list (what);

  if (has)
    g_assert_nonnull (strstr (listing, element));
  else
    g_assert_null (strstr (listing, element));
}

static void
test_61_auto_chooses_owned_table_and_plain_backstop (void)
{
  remove_tables ();
  g_autoptr (SgNftGate) gate = gate_61 ();

  g_assert_true (sg_nft_gate_is_owned (gate));
  g_assert_false (sg_nft_gate_is_persistent (gate));
  assert_layout_61_tables ();
  const char *text = sg_nft_gate_describe_layout (gate);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "seatgate_owned"));
  g_assert_nonnull (strstr (text, "backstop"));
  g_assert_nonnull (strstr (text, "NFT_TABLE_F_PERSIST"));

  /* The same rules in both. */
  g_autofree char *owned = nft_list ("chain inet seatgate_owned output");
  g_autofree char *backstop = nft_list ("chain inet seatgate output");
  g_assert_nonnull (strstr (owned, "!= @granted fib daddr type local reject with tcp reset"));
  g_assert_nonnull (strstr (backstop, "!= @granted fib daddr type local reject with tcp reset"));
  g_autofree char *owned_in = nft_list ("chain inet seatgate_owned input");
  g_assert_nonnull (strstr (owned_in, "drop"));
}

static void
test_61_deny_grant_revoke_and_always (void)
{
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestListener) listener_b = sg_ktest_listener_new (PORT_B, FALSE);
  g_autoptr (SgKtestListener) listener_free = sg_ktest_listener_new (PORT_FREE, FALSE);
  g_autoptr (SgNftGate) gate = gate_61 ();
  const char *loopbacks[] = { "127.0.0.1", "::1" };

  for (guint i = 0; i < G_N_ELEMENTS (loopbacks); i++)
    {
      const char *addr = loopbacks[i];
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_A), ECONNREFUSED);
      sg_ktest_assert_errno (sg_ktest_connect_as (0, addr, PORT_A), ECONNREFUSED);
      sg_ktest_assert_errno (sg_ktest_connect_as (CAROL, addr, PORT_A), 0);
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_FREE), 0);

      sg_ktest_gate_grant (gate, ALICE, port_a, 1);
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_A), 0);
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_B), ECONNREFUSED);
      sg_ktest_assert_errno (sg_ktest_connect_as (BOB, addr, PORT_A), ECONNREFUSED);

      sg_ktest_gate_revoke (gate, ALICE, port_a, 1);
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, addr, PORT_A), ECONNREFUSED);
    }
}

/* A grant in only one of the tables lets nobody in: a packet must pass both. */
static void
test_61_a_packet_must_pass_both_tables (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_61 ();

  g_assert_cmpint (sg_ktest_nft ("add element inet seatgate granted { 1000 . 5930 }", NULL), ==, 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "::1", PORT_A), ECONNREFUSED);
}

/* Each change is one transaction (one NEWGEN) touching both tables. */
static void
test_61_grant_revoke_and_cut_change_both_tables_in_one_batch (void)
{
  g_autoptr (SgNftGate) gate = gate_61 ();
  g_autoptr (SgKtestNftMonitor) monitor = sg_ktest_nft_monitor_new ();

  sg_ktest_gate_grant (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWGEN, NULL), ==, 1);
  assert_set_has ("seatgate_owned", "granted", "1000 . 5930", TRUE);
  assert_set_has ("seatgate", "granted", "1000 . 5931", TRUE);

  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWGEN, NULL), ==, 1);
  assert_set_has ("seatgate_owned", "granted", "1000 .", FALSE);
  assert_set_has ("seatgate", "granted", "1000 .", FALSE);

  gate_cut (gate, BOB, port_a, 1);
  g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWGEN, NULL), ==, 1);
  assert_set_has ("seatgate_owned", "cut", "1001 . 5930", TRUE);
  assert_set_has ("seatgate", "cut", "1001 . 5930", TRUE);
  g_autofree char *owned = nft_list ("chain inet seatgate_owned output");
  g_autofree char *backstop = nft_list ("chain inet seatgate output");
  g_assert_nonnull (strstr (owned, "@cut"));
  g_assert_nonnull (strstr (backstop, "@cut"));

  /* A grant after a cut clears the pair from both cut sets. */
  sg_ktest_gate_grant (gate, BOB, port_a, 1);
  g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWGEN, NULL), ==, 1);
  assert_set_has ("seatgate_owned", "cut", "1001 . 5930", FALSE);
  assert_set_has ("seatgate", "cut", "1001 . 5930", FALSE);
}

/* Before 6.3 there is no DESTROYSETELEM, and DELSETELEM of a missing element
 * fails the batch: the gate adds the element and deletes it in one batch.
 * The notifications show which way was taken: that add appears only so. */
static void
test_61_revoke_of_missing_pairs_adds_then_deletes (void)
{
  g_autoptr (SgKtestNftMonitor) monitor = sg_ktest_nft_monitor_new ();

  {
    g_autoptr (SgNftGate) modern = gate_new_as (SG_TABLE_MODE_AUTO, SG_NFT_KERNEL_ALL);
    gate_reset (modern);
    sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWSETELEM, NULL);
    sg_ktest_gate_revoke (modern, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
    g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWSETELEM, NULL), ==, 0);
  }

  g_autoptr (SgNftGate) gate = gate_61 ();
  sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWSETELEM, NULL);
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  g_assert_cmpuint (sg_ktest_nft_monitor_count (monitor, NFT_MSG_NEWSETELEM, "seatgate_owned"), >=,
                    1);

  /* Half granted, all revoked; then the same again with nothing granted. */
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  assert_set_has ("seatgate_owned", "granted", "1000 .", FALSE);
  assert_set_has ("seatgate", "granted", "1000 .", FALSE);

  /* The same for the cut set, which a grant after a cut clears. */
  gate_cut (gate, BOB, port_a, 1);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_gate_grant (gate, BOB, port_a, 1);
  assert_set_has ("seatgate", "cut", "1001 . 5930", FALSE);
  assert_set_has ("seatgate", "granted", "1000 . 5930", TRUE);
}

/* What other programs do to the firewall, each while a denied uid (Bob)
 * connects once a millisecond, and Alice holds a grant. */
typedef struct
{
  const char *name;
  const char *nft_args; /* for nft, or NULL */
  const char *argv;     /* a command line otherwise */
  gboolean refused;     /* the kernel refuses it: the owned table is not theirs */
} Tamper;

static const char FIREWALLD_STYLE[] = "flush ruleset\n"
                                      "table inet firewalld {\n"
                                      "  chain filter_OUTPUT {\n"
                                      "    type filter hook output priority filter + 10; "
                                      "policy accept;\n"
                                      "    oif \"lo\" accept\n"
                                      "  }\n"
                                      "}\n";

static const char IPTABLES_RULES[] = "*filter\n"
                                     ":INPUT ACCEPT [0:0]\n"
                                     ":FORWARD ACCEPT [0:0]\n"
                                     ":OUTPUT ACCEPT [0:0]\n"
                                     "-A OUTPUT -o lo -j ACCEPT\n"
                                     "COMMIT\n";

/* @text with FILE replaced by @file. */
static char *
with_file (const char *text, const char *file)
{
  g_auto (GStrv) parts = g_strsplit (text, "FILE", 2);

  return parts[1] != NULL ? g_strconcat (parts[0], file, parts[1], NULL) : g_strdup (text);
}

static void
run_tamper (const Tamper *tamper, const char *reload_file, const char *rules_file)
{
  g_autofree char *output = NULL;
  int status;

  if (tamper->nft_args != NULL)
    {
      g_autofree char *args = with_file (tamper->nft_args, reload_file);
      status = sg_ktest_nft (args, &output);
    }
  else
    {
      g_autofree char *script = with_file (tamper->argv, rules_file);
      const char *argv[] = { "sh", "-c", script, NULL };
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   &out, &err, &status, &error));
      g_assert_no_error (error);
      output = g_strconcat (out, err, NULL);
      status = g_spawn_check_wait_status (status, NULL) ? 0 : 1;
    }
  g_test_message ("%s: exit %d %s", tamper->name, status, output);
  if (tamper->refused)
    {
      g_assert_cmpint (status, !=, 0);
      g_assert_nonnull (strstr (output, "Operation not permitted"));
    }
  else
    g_assert_cmpint (status, ==, 0);
}

static void
test_61_foreign_changes_never_open_the_port (void)
{
  static const Tamper tampers[] = {
    { "flush ruleset", "flush ruleset", NULL, FALSE },
    { "delete the backstop", "delete table inet seatgate", NULL, FALSE },
    { "flush the backstop", "flush table inet seatgate", NULL, FALSE },
    { "firewalld-style reload", "-f FILE", NULL, FALSE },
    { "iptables -F", NULL, "iptables -F && ip6tables -F", FALSE },
    { "iptables-nft-restore", NULL, "iptables-nft-restore < FILE", FALSE },
    { "delete the owned table", "delete table inet seatgate_owned", NULL, TRUE },
    { "flush the owned table", "flush table inet seatgate_owned", NULL, TRUE },
    { "grant Bob in the owned table", "add element inet seatgate_owned granted { 1001 . 5930 }",
      NULL, TRUE },
  };
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_61 ();
  g_autoptr (SgKtestClient) bob = sg_ktest_client_new (BOB);
  g_autofree char *reload_file = NULL;
  g_autofree char *rules_file = NULL;
  int fd;

  fd = g_file_open_tmp ("sgktest-XXXXXX.nft", &reload_file, NULL);
  close (fd);
  g_assert_true (g_file_set_contents (reload_file, FIREWALLD_STYLE, -1, NULL));
  fd = g_file_open_tmp ("sgktest-XXXXXX.rules", &rules_file, NULL);
  close (fd);
  g_assert_true (g_file_set_contents (rules_file, IPTABLES_RULES, -1, NULL));

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_client_hammer_start (bob, PORT_A);
  for (guint i = 0; i < G_N_ELEMENTS (tampers); i++)
    {
      run_tamper (&tampers[i], reload_file, rules_file);
      /* The owned table alone keeps the deny, and Alice's grant. */
      g_assert_true (table_has_flags ("seatgate_owned", NFT_TABLE_F_OWNER));
      sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
      sg_ktest_assert_errno (sg_ktest_connect_as (0, "::1", PORT_A), ECONNREFUSED);
      /* As the helper's table watch does: the backstop comes back. */
      gate_reset (gate);
      sg_ktest_gate_grant (gate, ALICE, port_a, 1);
      assert_layout_61_tables ();
      g_usleep (20 * 1000);
    }
  guint attempts = 0;
  guint through = sg_ktest_client_hammer_stop (bob, &attempts);
  g_test_message ("Bob: %u of %u connects got through", through, attempts);
  g_assert_cmpuint (attempts, >=, 2 * G_N_ELEMENTS (tampers));
  g_assert_cmpuint (through, ==, 0);
  g_unlink (reload_file);
  g_unlink (rules_file);
}

/* A helper that granted Alice and was then killed: the kernel destroys the
 * owned table with its socket; the backstop keeps the deny (and Alice's
 * grant, as a persistent orphan would) until the next helper replaces it. */
static void
test_61_backstop_keeps_the_deny_when_the_helper_is_killed (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  int ready[2];
  char byte;

  remove_tables ();
  g_assert_no_errno (pipe (ready));
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      SgNftGate *gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);
      if (gate == NULL)
        _exit (1);
      sg_nft_gate_limit_kernel (gate, KERNEL_61);
      if (!sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, NULL)
          || sg_nft_gate_get_layout (gate) != SG_NFT_LAYOUT_BACKSTOP
          || !sg_nft_gate_grant (gate, ALICE, port_a, 1, NULL) || write (ready[1], "r", 1) != 1)
        _exit (1);
      pause ();
      _exit (0);
    }
  close (ready[1]);
  g_assert_cmpint (read (ready[0], &byte, 1), ==, 1);
  close (ready[0]);
  assert_layout_61_tables ();
  g_assert_no_errno (kill (pid, SIGKILL));
  g_assert_cmpint (waitpid (pid, NULL, 0), ==, pid);

  g_assert_false (table_has_flags ("seatgate_owned", NFT_TABLE_F_OWNER));
  g_assert_true (table_has_flags ("seatgate", 0));
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "::1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (0, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  /* The restart takes over: both tables again, deny-only. */
  g_autoptr (SgNftGate) gate = gate_61 ();
  assert_layout_61_tables ();
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
}

/* The gate's own reset (the helper's rebuild after a tamper, or a config
 * reload) replaces both tables: grants, cuts and the cut rule go. */
static void
test_61_reset_with_both_tables_present (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_61 ();

  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  gate_cut (gate, BOB, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);

  gate_reset (gate);
  assert_layout_61_tables ();
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  assert_set_has ("seatgate_owned", "granted", "elements", FALSE);
  assert_set_has ("seatgate", "granted", "elements", FALSE);
  assert_set_has ("seatgate_owned", "cut", "elements", FALSE);
  g_autofree char *owned = nft_list ("chain inet seatgate_owned output");
  g_assert_null (strstr (owned, "@cut"));
}

static void
test_61_second_live_gate_is_busy (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) first = gate_61 ();
  g_autoptr (SgNftGate) second = gate_new_as (SG_TABLE_MODE_AUTO, KERNEL_61);
  g_autoptr (GError) error = NULL;

  sg_ktest_gate_grant (first, ALICE, port_a, 1);
  g_assert_false (
      sg_nft_gate_reset (second, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "seatgate_owned"));
  g_assert_nonnull (strstr (error->message, "another seatgate-helper"));

  /* One batch: the backstop was not touched either. */
  assert_layout_61_tables ();
  assert_set_has ("seatgate", "granted", "1000 . 5930", TRUE);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  sg_ktest_assert_errno (sg_ktest_connect_as (BOB, "127.0.0.1", PORT_A), ECONNREFUSED);
}

/* A kernel upgrade or a TableMode change between two runs: each reset
 * leaves exactly its own layout's tables. */
static void
test_layouts_replace_each_other (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);

  remove_tables ();
  /* An orphan of the persistent layout... */
  {
    g_autoptr (SgNftGate) probe = gate_new_as (SG_TABLE_MODE_AUTO, SG_NFT_KERNEL_ALL);
    gate_reset (probe);
    g_assert_cmpint (sg_nft_gate_get_layout (probe), ==, SG_NFT_LAYOUT_PERSISTENT);
  }
  g_assert_true (table_has_flags ("seatgate", NFT_TABLE_F_PERSIST));
  g_assert_false (table_has_flags ("seatgate_owned", 0));

  /* ... taken over by the 5.12-6.8 layout ... */
  {
    g_autoptr (SgNftGate) gate = gate_61 ();
    assert_layout_61_tables ();
  }
  g_assert_true (table_has_flags ("seatgate", 0));
  g_assert_false (table_has_flags ("seatgate_owned", 0));

  /* ... a foreign plain table named like the owned one, with a rule of its
   * own, goes with the next reset of any layout ... */
  sg_ktest_nft_load ("table inet seatgate_owned {\n"
                     "  chain extra { type filter hook output priority 10; "
                     "tcp dport 5940 reject with tcp reset; }\n"
                     "}\n");
  {
    g_autoptr (SgNftGate) gate = gate_new_as (SG_TABLE_MODE_PLAIN, SG_NFT_KERNEL_ALL);
    gate_reset (gate);
    g_assert_cmpint (sg_nft_gate_get_layout (gate), ==, SG_NFT_LAYOUT_PLAIN);
    g_assert_true (table_has_flags ("seatgate", 0));
    g_assert_false (table_has_flags ("seatgate_owned", 0));
  }

  /* ... and the persistent layout takes the plain table over. */
  g_autoptr (SgNftGate) gate = gate_new_as (SG_TABLE_MODE_AUTO, SG_NFT_KERNEL_ALL);
  gate_reset (gate);
  g_assert_true (table_has_flags ("seatgate", NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST));
  g_assert_false (table_has_flags ("seatgate_owned", 0));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_61_persistent_mode_fails_closed (void)
{
  g_autoptr (SgNftGate) gate = gate_new_as (SG_TABLE_MODE_PERSISTENT, KERNEL_61);
  g_autoptr (GError) error = NULL;

  remove_tables ();
  g_assert_false (
      sg_nft_gate_reset (gate, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "TableMode=auto"));
  g_assert_cmpint (sg_nft_gate_get_layout (gate), ==, SG_NFT_LAYOUT_NONE);
}

/* TableMode=backstop asks for this layout on any kernel with the owner flag
 * (this one too), and fails closed without it. */
static void
test_backstop_mode_makes_the_owned_table_and_backstop_or_fails (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (GError) error = NULL;

  remove_tables ();
  {
    g_autoptr (SgNftGate) old = gate_new_as (SG_TABLE_MODE_BACKSTOP, 0);
    g_assert_false (
        sg_nft_gate_reset (old, gated_ports, G_N_ELEMENTS (gated_ports), NULL, 0, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "TableMode=auto"));
    g_assert_false (table_has_flags ("seatgate", 0));
  }

  g_autoptr (SgNftGate) gate = gate_new_as (SG_TABLE_MODE_BACKSTOP, SG_NFT_KERNEL_ALL);
  gate_reset (gate);
  g_assert_cmpint (sg_nft_gate_get_layout (gate), ==, SG_NFT_LAYOUT_BACKSTOP);
  g_assert_nonnull (strstr (sg_nft_gate_describe_layout (gate), "TableMode=backstop"));
  assert_layout_61_tables ();
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  /* With DESTROYSETELEM (6.3-6.8): a revoke of pairs not granted. */
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

static void
test_pre512_auto_falls_back_to_a_plain_table_and_warns (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgNftGate) gate = gate_new_as (SG_TABLE_MODE_AUTO, 0);

  remove_tables ();
  g_test_expect_message ("seatgate-helper", G_LOG_LEVEL_WARNING,
                         "nftables layout: one plain table inet seatgate*NFT_TABLE_F_OWNER*");
  gate_reset (gate);
  g_test_assert_expected_messages ();
  g_assert_cmpint (sg_nft_gate_get_layout (gate), ==, SG_NFT_LAYOUT_PLAIN);
  g_assert_false (sg_nft_gate_is_owned (gate));
  g_assert_true (table_has_flags ("seatgate", 0));
  g_assert_false (table_has_flags ("seatgate_owned", 0));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
  sg_ktest_gate_grant (gate, ALICE, port_a, 1);
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), 0);
  sg_ktest_gate_revoke (gate, ALICE, gated_ports, G_N_ELEMENTS (gated_ports));
  sg_ktest_assert_errno (sg_ktest_connect_as (ALICE, "127.0.0.1", PORT_A), ECONNREFUSED);
}

/* The kernel's own refusal, not a limit, leads the default gate: on this
 * kernel it is the persistent layout, said once. */
static void
test_default_layout_is_chosen_by_the_kernel (void)
{
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, NULL);

  g_assert_null (sg_nft_gate_describe_layout (gate));
  gate_reset (gate);
  g_test_message ("%s", sg_nft_gate_describe_layout (gate));
  if (sg_nft_gate_get_layout (gate) != SG_NFT_LAYOUT_PERSISTENT)
    {
      g_test_skip ("this kernel has no NFT_TABLE_F_PERSIST (Linux < 6.9)");
      return;
    }
  g_assert_nonnull (strstr (sg_nft_gate_describe_layout (gate), "persistent"));
  g_assert_false (table_has_flags ("seatgate_owned", 0));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  sg_ktest_add ("/nft-layouts/61/auto-chooses-owned-table-and-plain-backstop",
                test_61_auto_chooses_owned_table_and_plain_backstop);
  sg_ktest_add ("/nft-layouts/61/deny-grant-revoke-and-always",
                test_61_deny_grant_revoke_and_always);
  sg_ktest_add ("/nft-layouts/61/a-packet-must-pass-both-tables",
                test_61_a_packet_must_pass_both_tables);
  sg_ktest_add ("/nft-layouts/61/grant-revoke-and-cut-change-both-tables-in-one-batch",
                test_61_grant_revoke_and_cut_change_both_tables_in_one_batch);
  sg_ktest_add ("/nft-layouts/61/revoke-of-missing-pairs-adds-then-deletes",
                test_61_revoke_of_missing_pairs_adds_then_deletes);
  sg_ktest_add ("/nft-layouts/61/foreign-changes-never-open-the-port",
                test_61_foreign_changes_never_open_the_port);
  sg_ktest_add ("/nft-layouts/61/backstop-keeps-the-deny-when-the-helper-is-killed",
                test_61_backstop_keeps_the_deny_when_the_helper_is_killed);
  sg_ktest_add ("/nft-layouts/61/reset-with-both-tables-present",
                test_61_reset_with_both_tables_present);
  sg_ktest_add ("/nft-layouts/61/second-live-gate-is-busy", test_61_second_live_gate_is_busy);
  sg_ktest_add ("/nft-layouts/61/persistent-mode-fails-closed",
                test_61_persistent_mode_fails_closed);
  sg_ktest_add ("/nft-layouts/layouts-replace-each-other", test_layouts_replace_each_other);
  sg_ktest_add ("/nft-layouts/backstop-mode-makes-the-owned-table-and-backstop-or-fails",
                test_backstop_mode_makes_the_owned_table_and_backstop_or_fails);
  sg_ktest_add ("/nft-layouts/pre512/auto-falls-back-to-a-plain-table-and-warns",
                test_pre512_auto_falls_back_to_a_plain_table_and_warns);
  sg_ktest_add ("/nft-layouts/default-layout-is-chosen-by-the-kernel",
                test_default_layout_is_chosen_by_the_kernel);

  return g_test_run ();
}
