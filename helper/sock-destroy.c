/* Ending local TCP connections to gated ports with sock_diag SOCK_DESTROY. */
#include "sock-destroy.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "sg-ports.h"

/* A dump's messages come in buffers of up to 32 KiB; a smaller buffer would
 * truncate them. */
#define SG_DIAG_BUFFER_SIZE 32768

/* The states a client end can be in while it may still send or receive data
 * (or, SYN_SENT, be about to). LISTEN and TIME_WAIT/CLOSE sockets carry no
 * connection to end. SYN_RECV also brings in request sockets, the server end
 * of a client still in SYN_SENT. */
#define SG_DIAG_STATES                                                                             \
  ((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) | (1u << TCP_FIN_WAIT1)   \
   | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING))

typedef struct
{
  guint8 family;
  guint32 uid;
  struct inet_diag_sockid id;
} SgDiagSock;

/* Addresses as IPv6 (IPv4 as ::ffff:a.b.c.d), so that a dual-stack socket's
 * v4-mapped end finds its IPv4 peer. */
typedef struct
{
  guint8 src[16];
  guint8 dst[16];
  guint16 sport;
  guint16 dport;
} SgTuple;

G_STATIC_ASSERT (sizeof (SgTuple) == 36);

static void
addr_to_v6 (guint8 family, const __be32 addr[4], guint8 out[16])
{
  if (family == AF_INET)
    {
      memset (out, 0, 10);
      out[10] = out[11] = 0xff;
      memcpy (out + 12, &addr[0], 4);
    }
  else
    memcpy (out, addr, 16);
}

static void
tuple_from_sock (const SgDiagSock *sock, gboolean reverse, SgTuple *tuple)
{
  memset (tuple, 0, sizeof *tuple);
  addr_to_v6 (sock->family, reverse ? sock->id.idiag_dst : sock->id.idiag_src, tuple->src);
  addr_to_v6 (sock->family, reverse ? sock->id.idiag_src : sock->id.idiag_dst, tuple->dst);
  tuple->sport = reverse ? sock->id.idiag_dport : sock->id.idiag_sport;
  tuple->dport = reverse ? sock->id.idiag_sport : sock->id.idiag_dport;
}

static guint
tuple_hash (gconstpointer key)
{
  const guint8 *bytes = key;
  guint hash = 5381;

  for (gsize i = 0; i < sizeof (SgTuple); i++)
    hash = hash * 33 + bytes[i];
  return hash;
}

static gboolean
tuple_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (SgTuple)) == 0;
}

typedef struct mnl_socket SgMnlSocket;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgMnlSocket, mnl_socket_close)

static SgMnlSocket *
diag_socket_open (GError **error)
{
  g_autoptr (SgMnlSocket) nl = mnl_socket_open2 (NETLINK_SOCK_DIAG, SOCK_CLOEXEC);

  if (nl == NULL || mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not open a sock_diag netlink socket: %s", g_strerror (saved_errno));
      return NULL;
    }
  return g_steal_pointer (&nl);
}

static int
dump_cb (const struct nlmsghdr *nlh, void *data)
{
  GArray *socks = data;
  const struct inet_diag_msg *msg = mnl_nlmsg_get_payload (nlh);

  if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY
      || mnl_nlmsg_get_payload_len (nlh) < sizeof (struct inet_diag_msg))
    return MNL_CB_OK;

  SgDiagSock sock = { .family = msg->idiag_family, .uid = msg->idiag_uid, .id = msg->id };
  g_array_append_val (socks, sock);
  return MNL_CB_OK;
}

static gboolean
dump_family (struct mnl_socket *nl, guint8 family, guint32 seq, GArray *socks, GError **error)
{
  g_autofree char *buf = g_malloc (SG_DIAG_BUFFER_SIZE);
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct inet_diag_req_v2 *req;
  guint32 portid = mnl_socket_get_portid (nl);
  int ret;

  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  req = mnl_nlmsg_put_extra_header (nlh, sizeof *req);
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_states = SG_DIAG_STATES;

  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    goto failed;

  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, SG_DIAG_BUFFER_SIZE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        goto failed;
      ret = mnl_cb_run (buf, (size_t) n, seq, portid, dump_cb, socks);
      if (ret == MNL_CB_ERROR)
        goto failed;
      if (ret == MNL_CB_STOP)
        return TRUE;
    }

failed:
  {
    int saved_errno = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                 "Could not list the %s TCP sockets (sock_diag): %s",
                 family == AF_INET ? "IPv4" : "IPv6", g_strerror (saved_errno));
    return FALSE;
  }
}

/* SOCK_DESTROY for exactly the socket of the dump: the kernel finds it by its
 * 4-tuple and interface and checks the cookie, so a reused tuple is safe.
 * Returns 0 or an errno. */
static int
destroy_one (struct mnl_socket *nl, const SgDiagSock *sock, guint32 seq)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct inet_diag_req_v2 *req;
  int ret;

  nlh->nlmsg_type = SOCK_DESTROY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  req = mnl_nlmsg_put_extra_header (nlh, sizeof *req);
  req->sdiag_family = sock->family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_states = SG_DIAG_STATES;
  req->id = sock->id;

  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    return errno;
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? errno : EPIPE;
      /* The ACK: STOP when it says 0, ERROR with errno set otherwise. */
      ret = mnl_cb_run (buf, (size_t) n, seq, mnl_socket_get_portid (nl), NULL, NULL);
      if (ret == MNL_CB_ERROR)
        return errno;
      if (ret == MNL_CB_STOP)
        return 0;
    }
}

static GIOErrorEnum
destroy_error_code (int err)
{
  switch (err)
    {
    case EOPNOTSUPP:
      return G_IO_ERROR_NOT_SUPPORTED;
    case EPERM:
    case EACCES:
      return G_IO_ERROR_PERMISSION_DENIED;
    default:
      return g_io_error_from_errno (err);
    }
}

gboolean
sg_sock_destroy_matching (const guint16 *ports, gsize n_ports, SgSockMatchFunc match,
                          gpointer user_data, guint *n_destroyed, GError **error)
{
  g_autoptr (SgMnlSocket) nl = NULL;
  g_autoptr (GArray) socks = g_array_new (FALSE, FALSE, sizeof (SgDiagSock));
  g_autoptr (GHashTable) by_tuple = NULL;
  guint32 seq = (guint32) time (NULL);
  guint destroyed = 0, failed = 0;
  int first_err = 0;
  const SgDiagSock *first_failed = NULL;

  g_return_val_if_fail (ports != NULL || n_ports == 0, FALSE);
  g_return_val_if_fail (match != NULL, FALSE);

  if (n_destroyed != NULL)
    *n_destroyed = 0;
  if (n_ports == 0)
    return TRUE;

  nl = diag_socket_open (error);
  if (nl == NULL)
    return FALSE;
  if (!dump_family (nl, AF_INET, seq++, socks, error)
      || !dump_family (nl, AF_INET6, seq++, socks, error))
    return FALSE;

  /* The dump itself decides what is local: a client end whose peer end is
   * a socket of this network namespace too. */
  g_autofree SgTuple *tuples = g_new (SgTuple, MAX (socks->len, 1));
  by_tuple = g_hash_table_new (tuple_hash, tuple_equal);
  for (guint i = 0; i < socks->len; i++)
    {
      tuple_from_sock (&g_array_index (socks, SgDiagSock, i), FALSE, &tuples[i]);
      g_hash_table_add (by_tuple, &tuples[i]);
    }

  for (guint i = 0; i < socks->len; i++)
    {
      const SgDiagSock *sock = &g_array_index (socks, SgDiagSock, i);
      guint16 port = ntohs (sock->id.idiag_dport);
      SgTuple peer;

      if (!sg_ports_contains (ports, n_ports, port))
        continue;
      tuple_from_sock (sock, TRUE, &peer);
      if (!g_hash_table_contains (by_tuple, &peer))
        continue;
      if (!match (sock->uid, port, user_data))
        continue;

      int err = destroy_one (nl, sock, seq++);
      if (err == 0)
        destroyed++;
      else if (err != ENOENT) /* ENOENT: it closed since the dump */
        {
          if (first_err == 0)
            {
              first_err = err;
              first_failed = sock;
            }
          failed++;
        }
    }

  if (n_destroyed != NULL)
    *n_destroyed = destroyed;

  if (first_err != 0)
    {
      g_set_error (error, G_IO_ERROR, destroy_error_code (first_err),
                   "Could not destroy %u of %u TCP connection(s) to gated ports (the first: uid "
                   "%u to port %u): %s%s",
                   failed, failed + destroyed, first_failed->uid,
                   ntohs (first_failed->id.idiag_dport), g_strerror (first_err),
                   first_err == EOPNOTSUPP ? " (the kernel lacks CONFIG_INET_DIAG_DESTROY)"
                   : first_err == EPERM    ? " (SOCK_DESTROY needs CAP_NET_ADMIN)"
                                           : "");
      return FALSE;
    }
  return TRUE;
}
