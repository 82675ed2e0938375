/* Shared plumbing of the kernel tests: real sockets, real uids, a private
 * network namespace. */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "nft-gate.h"

G_BEGIN_DECLS

/* What sg_ktest_*_recv() returns when the peer closed the connection. */
#define SG_KTEST_EOF (-1)

/* Registers @func under @path; it is skipped unless the test runs as root in
 * a network namespace other than PID 1's (see in-netns.sh), so that the
 * host's firewall and sockets are never touched. */
void sg_ktest_add (const char *path, GTestFunc func);

/* A root listener on 127.0.0.1 and [::1] (@any: on 0.0.0.0 instead, for
 * connections from another network namespace). */
typedef struct
{
  int fd4;
  int fd6;
  guint16 port;
} SgKtestListener;

SgKtestListener *sg_ktest_listener_new (guint16 port, gboolean any);
/* On 0.0.0.0 in the network namespace at @netns_path. */
SgKtestListener *sg_ktest_listener_new_in_netns (guint16 port, const char *netns_path);
/* Accepts one connection of @family (AF_INET or AF_INET6); -1 after
 * @timeout_ms. */
int sg_ktest_listener_accept (SgKtestListener *listener, int family, int timeout_ms);
void sg_ktest_listener_free (SgKtestListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgKtestListener, sg_ktest_listener_free)

/* One byte on @fd: 0 or an errno. */
int sg_ktest_fd_send (int fd);
/* Waits up to @timeout_ms for data on @fd: 0 (data read), SG_KTEST_EOF,
 * ETIMEDOUT or the socket's errno. */
int sg_ktest_fd_recv (int fd, int timeout_ms);

/* A child process with its uid, gid and groups set to @uid (no capabilities
 * left unless @uid is 0) that makes connections on request. The calls return
 * 0 or an errno; ETIMEDOUT when nothing answered within the timeout. */
typedef struct _SgKtestClient SgKtestClient;

SgKtestClient *sg_ktest_client_new (guint32 uid);
/* The same, in the network namespace at @netns_path (e.g. /proc/PID/ns/net). */
SgKtestClient *sg_ktest_client_new_in_netns (guint32 uid, const char *netns_path);
/* Connects to @addr (numeric IPv4, IPv6 or v4-mapped IPv6) port @port; on
 * success *@slot names the connection for the calls below. */
int sg_ktest_client_connect (SgKtestClient *client, const char *addr, guint16 port, int timeout_ms,
                             int *slot);
int sg_ktest_client_send (SgKtestClient *client, int slot);
int sg_ktest_client_recv (SgKtestClient *client, int slot, int timeout_ms);
int sg_ktest_client_close (SgKtestClient *client, int slot);
/* @n times: connect, close. Returns the first failure's errno, or 0;
 * *@n_ok receives how many connected. */
int sg_ktest_client_connect_loop (SgKtestClient *client, const char *addr, guint16 port, guint n,
                                  guint *n_ok);
/* Connects to @port on 127.0.0.1 and [::1] in turn, once a millisecond,
 * until stopped; the other calls must wait for the stop. */
void sg_ktest_client_hammer_start (SgKtestClient *client, guint16 port);
/* Returns how many of the attempts connected, *@n_attempts how many there
 * were. Fails the test if an attempt ended in anything but a connection or
 * a refusal. */
guint sg_ktest_client_hammer_stop (SgKtestClient *client, guint *n_attempts);
/* Runs @func in the client process (as its uid) and returns its result. */
int sg_ktest_client_run (SgKtestClient *client, int (*func) (void));
void sg_ktest_client_free (SgKtestClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgKtestClient, sg_ktest_client_free)

/* One connect, as @uid, closed at once: 0 or an errno. */
int sg_ktest_connect_as (guint32 uid, const char *addr, guint16 port);

/* A second network namespace joined to this one by a veth pair: this side is
 * 10.99.0.1/24, the remote side 10.99.0.2/24. */
typedef struct
{
  pid_t holder; /* keeps the namespace alive */
  int holder_fd;
  char *netns_path;
} SgKtestRemote;

SgKtestRemote *sg_ktest_remote_new (void);
void sg_ktest_remote_free (SgKtestRemote *remote);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgKtestRemote, sg_ktest_remote_free)

/* How many file descriptors this process has open. */
guint sg_ktest_count_fds (void);

/* Runs the nft CLI (tests may; the product may not). Returns its exit
 * status; *@output (if not NULL) receives stdout and stderr. */
int sg_ktest_nft (const char *args, char **output);

/* Loads an nft script with nft -f, as another program would; asserts it
 * loaded. */
void sg_ktest_nft_load (const char *script);

/* The gate's grant and revoke, asserted to succeed. */
void sg_ktest_gate_grant (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports);
void sg_ktest_gate_revoke (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports);

/* A connect's or read's result for messages: "connected/ok", "EOF" or the
 * errno's text. */
const char *sg_ktest_errno_name (int err);

#define sg_ktest_assert_errno(actual, expected)                                                    \
  g_assert_cmpstr (sg_ktest_errno_name (actual), ==, sg_ktest_errno_name (expected))

/* The end of a connection that was reset, aborted or closed. */
void sg_ktest_assert_connection_ended (int err);

/* Table inet seatgate as the kernel reports it (GETTABLE). FALSE if it does
 * not exist. @owner receives the owning netlink port id, 0 if none. */
gboolean sg_ktest_table_info (guint32 *flags, guint32 *owner);
/* The same for table inet @name. */
gboolean sg_ktest_table_info_of (const char *name, guint32 *flags, guint32 *owner);

/* Counts nf_tables change notifications (as `nft monitor` sees them). */
typedef struct _SgKtestNftMonitor SgKtestNftMonitor;
SgKtestNftMonitor *sg_ktest_nft_monitor_new (void);
/* Reads what has come since the last call and returns how many were of
 * @type (NFT_MSG_*) about table inet @table (NULL: any, e.g. NEWGEN). */
guint sg_ktest_nft_monitor_count (SgKtestNftMonitor *monitor, guint16 type, const char *table);
void sg_ktest_nft_monitor_free (SgKtestNftMonitor *monitor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgKtestNftMonitor, sg_ktest_nft_monitor_free)

G_END_DECLS
