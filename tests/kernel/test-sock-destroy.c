/* sock_diag SOCK_DESTROY of local connections to gated ports, for real. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "kernel-test-util.h"
#include "sock-destroy.h"

#define PORT_A 5930    /* gated */
#define PORT_B 5931    /* gated */
#define PORT_FREE 5940 /* not gated */

#define ALICE 1000
#define BOB 1001

static const guint16 gated_ports[] = { PORT_A, PORT_B };

/* A connection of a client process to a root listener. */
typedef struct
{
  SgKtestClient *client;
  int slot;
  int server;
} Connection;

static void
connection_open (Connection *conn, SgKtestClient *client, SgKtestListener *listener,
                 const char *addr, int server_family)
{
  conn->client = client;
  sg_ktest_assert_errno (sg_ktest_client_connect (client, addr, listener->port, 3000, &conn->slot),
                         0);
  conn->server = sg_ktest_listener_accept (listener, server_family, 3000);
  g_assert_cmpint (conn->server, >=, 0);
}

static void
assert_connection_alive (Connection *conn)
{
  sg_ktest_assert_errno (sg_ktest_client_send (conn->client, conn->slot), 0);
  sg_ktest_assert_errno (sg_ktest_fd_recv (conn->server, 3000), 0);
  sg_ktest_assert_errno (sg_ktest_fd_send (conn->server), 0);
  sg_ktest_assert_errno (sg_ktest_client_recv (conn->client, conn->slot, 3000), 0);
}

static void
assert_connection_destroyed (Connection *conn)
{
  sg_ktest_assert_connection_ended (sg_ktest_client_recv (conn->client, conn->slot, 3000));
  sg_ktest_assert_connection_ended (sg_ktest_fd_recv (conn->server, 3000));
}

static void
connection_close (Connection *conn)
{
  close (conn->server);
}

typedef struct
{
  guint32 uid;
  GArray *seen; /* guint32 pairs: uid, port */
} MatchData;

static gboolean
match_uid (guint32 uid, guint16 port, gpointer user_data)
{
  MatchData *data = user_data;

  if (data->seen != NULL)
    {
      guint32 pair[2] = { uid, port };
      g_array_append_vals (data->seen, pair, 2);
    }
  return uid == data->uid;
}

static guint
destroy_uid (guint32 uid, const guint16 *ports, gsize n_ports)
{
  g_autoptr (GError) error = NULL;
  MatchData data = { .uid = uid };
  guint n_destroyed = 0;

  g_assert_true (sg_sock_destroy_matching (ports, n_ports, match_uid, &data, &n_destroyed, &error));
  g_assert_no_error (error);
  return n_destroyed;
}

static void
check_destroys_uids_connection (const char *addr, int family)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection conn;

  connection_open (&conn, alice, listener, addr, family);
  assert_connection_alive (&conn);

  gint64 start = g_get_monotonic_time ();
  g_assert_cmpuint (destroy_uid (ALICE, gated_ports, G_N_ELEMENTS (gated_ports)), ==, 1);
  g_test_message ("dump + destroy of one connection: %" G_GINT64_FORMAT " us",
                  g_get_monotonic_time () - start);
  assert_connection_destroyed (&conn);
  connection_close (&conn);
}

static void
test_destroys_uids_connection_v4 (void)
{
  check_destroys_uids_connection ("127.0.0.1", AF_INET);
}

static void
test_destroys_uids_connection_v6 (void)
{
  check_destroys_uids_connection ("::1", AF_INET6);
}

/* An AF_INET6 socket connected to an IPv4 listener through ::ffff:127.0.0.1:
 * the dump shows its two ends in two families. */
static void
test_destroys_dual_stack_v4_mapped_connection (void)
{
  check_destroys_uids_connection ("::ffff:127.0.0.1", AF_INET);
}

static void
test_leaves_other_uids_connections (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  g_autoptr (SgKtestClient) bob = sg_ktest_client_new (BOB);
  Connection alice_v4, alice_v6, bob_v4, bob_v6;

  connection_open (&alice_v4, alice, listener, "127.0.0.1", AF_INET);
  connection_open (&alice_v6, alice, listener, "::1", AF_INET6);
  connection_open (&bob_v4, bob, listener, "127.0.0.1", AF_INET);
  connection_open (&bob_v6, bob, listener, "::1", AF_INET6);

  g_assert_cmpuint (destroy_uid (ALICE, gated_ports, G_N_ELEMENTS (gated_ports)), ==, 2);
  assert_connection_destroyed (&alice_v4);
  assert_connection_destroyed (&alice_v6);
  assert_connection_alive (&bob_v4);
  assert_connection_alive (&bob_v6);

  connection_close (&alice_v4);
  connection_close (&alice_v6);
  connection_close (&bob_v4);
  connection_close (&bob_v6);
}

static void
test_leaves_non_gated_ports (void)
{
  g_autoptr (SgKtestListener) listener_a = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestListener) listener_free = sg_ktest_listener_new (PORT_FREE, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection gated, free_conn;

  connection_open (&gated, alice, listener_a, "127.0.0.1", AF_INET);
  connection_open (&free_conn, alice, listener_free, "127.0.0.1", AF_INET);

  g_assert_cmpuint (destroy_uid (ALICE, gated_ports, G_N_ELEMENTS (gated_ports)), ==, 1);
  assert_connection_destroyed (&gated);
  assert_connection_alive (&free_conn);

  connection_close (&gated);
  connection_close (&free_conn);
}

/* The server end (source port gated, owned by root) is never offered or
 * destroyed: the client end's reset ends it. */
static void
test_offers_only_client_ends (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_B, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  g_autoptr (GArray) seen = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr (GError) error = NULL;
  MatchData data = { .uid = G_MAXUINT32, .seen = seen };
  guint n_destroyed = 99;
  Connection conn;

  connection_open (&conn, alice, listener, "::1", AF_INET6);

  g_assert_true (sg_sock_destroy_matching (gated_ports, G_N_ELEMENTS (gated_ports), match_uid,
                                           &data, &n_destroyed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_destroyed, ==, 0);
  g_assert_cmpuint (seen->len, ==, 2);
  g_assert_cmpuint (g_array_index (seen, guint32, 0), ==, ALICE);
  g_assert_cmpuint (g_array_index (seen, guint32, 1), ==, PORT_B);
  assert_connection_alive (&conn);
  connection_close (&conn);
}

/* Alice's connection to a gated port of another host: the peer end is not in
 * this namespace's dump, so it is not a local connection. */
static void
test_leaves_connections_to_other_hosts (void)
{
  g_autoptr (SgKtestRemote) remote = sg_ktest_remote_new ();
  g_autoptr (SgKtestListener) far_listener
      = sg_ktest_listener_new_in_netns (PORT_A, remote->netns_path);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection conn;

  connection_open (&conn, alice, far_listener, "10.99.0.2", AF_INET);
  g_assert_cmpuint (destroy_uid (ALICE, gated_ports, G_N_ELEMENTS (gated_ports)), ==, 0);
  assert_connection_alive (&conn);
  connection_close (&conn);
}

static int
destroy_without_cap_net_admin (void)
{
  g_autoptr (GError) error = NULL;
  MatchData data = { .uid = ALICE };
  guint n_destroyed = 99;

  if (sg_sock_destroy_matching (gated_ports, G_N_ELEMENTS (gated_ports), match_uid, &data,
                                &n_destroyed, &error))
    return 1;
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return 2;
  if (n_destroyed != 0)
    return 3;
  return 0;
}

static void
test_without_cap_net_admin_is_permission_denied (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection conn;

  connection_open (&conn, alice, listener, "127.0.0.1", AF_INET);
  /* Run in Alice's own process: uid 1000, no capabilities. */
  g_assert_cmpint (sg_ktest_client_run (alice, destroy_without_cap_net_admin), ==, 0);
  assert_connection_alive (&conn);
  connection_close (&conn);
}

static void
test_no_ports_destroys_nothing (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection conn;

  connection_open (&conn, alice, listener, "127.0.0.1", AF_INET);
  g_assert_cmpuint (destroy_uid (ALICE, NULL, 0), ==, 0);
  assert_connection_alive (&conn);
  connection_close (&conn);
}

static void
test_leaves_no_file_descriptor_open (void)
{
  g_autoptr (SgKtestListener) listener = sg_ktest_listener_new (PORT_A, FALSE);
  g_autoptr (SgKtestClient) alice = sg_ktest_client_new (ALICE);
  Connection conn;

  connection_open (&conn, alice, listener, "127.0.0.1", AF_INET);
  guint before = sg_ktest_count_fds ();
  for (int i = 0; i < 10; i++)
    destroy_uid (BOB, gated_ports, G_N_ELEMENTS (gated_ports));
  g_assert_cmpuint (destroy_uid (ALICE, gated_ports, G_N_ELEMENTS (gated_ports)), ==, 1);
  g_assert_cmpuint (sg_ktest_count_fds (), ==, before);
  connection_close (&conn);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  sg_ktest_add ("/sock-destroy/destroys-uids-connection-v4", test_destroys_uids_connection_v4);
  sg_ktest_add ("/sock-destroy/destroys-uids-connection-v6", test_destroys_uids_connection_v6);
  sg_ktest_add ("/sock-destroy/destroys-dual-stack-v4-mapped-connection",
                test_destroys_dual_stack_v4_mapped_connection);
  sg_ktest_add ("/sock-destroy/leaves-other-uids-connections", test_leaves_other_uids_connections);
  sg_ktest_add ("/sock-destroy/leaves-non-gated-ports", test_leaves_non_gated_ports);
  sg_ktest_add ("/sock-destroy/offers-only-client-ends", test_offers_only_client_ends);
  sg_ktest_add ("/sock-destroy/leaves-connections-to-other-hosts",
                test_leaves_connections_to_other_hosts);
  sg_ktest_add ("/sock-destroy/without-cap-net-admin-is-permission-denied",
                test_without_cap_net_admin_is_permission_denied);
  sg_ktest_add ("/sock-destroy/no-ports-destroys-nothing", test_no_ports_destroys_nothing);
  sg_ktest_add ("/sock-destroy/leaves-no-file-descriptor-open",
                test_leaves_no_file_descriptor_open);

  return g_test_run ();
}
