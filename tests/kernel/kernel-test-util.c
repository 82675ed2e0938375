#include "kernel-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

/* Environment */

typedef struct
{
  GTestFunc func;
} SgKtestCase;

/* A fresh namespace from in-netns.sh has lo and nothing else (but the veth
 * pairs the tests make). PID 1's namespace, where readable, must differ. */
static gboolean
in_private_netns (char **why)
{
  struct stat self, init;
  struct if_nameindex *ifs;

  if (geteuid () != 0)
    {
      *why = g_strdup ("needs root");
      return FALSE;
    }
  if (stat ("/proc/self/ns/net", &self) == 0 && stat ("/proc/1/ns/net", &init) == 0
      && self.st_ino == init.st_ino && self.st_dev == init.st_dev)
    {
      *why = g_strdup ("in PID 1's network namespace: run it through tests/kernel/in-netns.sh");
      return FALSE;
    }
  ifs = if_nameindex ();
  if (ifs == NULL)
    {
      *why = g_strdup_printf ("cannot list network interfaces: %s", g_strerror (errno));
      return FALSE;
    }
  for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
    if (strcmp (i->if_name, "lo") != 0 && !g_str_has_prefix (i->if_name, "sgktest"))
      {
        *why = g_strdup_printf ("interface %s is here, so this is not a fresh network "
                                "namespace: run it through tests/kernel/in-netns.sh",
                                i->if_name);
        if_freenameindex (ifs);
        return FALSE;
      }
  if_freenameindex (ifs);
  return TRUE;
}

static void
run_case (gconstpointer data)
{
  const SgKtestCase *test = data;
  g_autofree char *why = NULL;

  if (!in_private_netns (&why))
    {
      g_test_skip (why);
      return;
    }
  test->func ();
}

void
sg_ktest_add (const char *path, GTestFunc func)
{
  SgKtestCase *test = g_new0 (SgKtestCase, 1);

  test->func = func;
  g_test_add_data_func_full (path, test, run_case, g_free);
}

/* Addresses */

static socklen_t
parse_addr (const char *addr, guint16 port, struct sockaddr_storage *ss)
{
  memset (ss, 0, sizeof *ss);
  if (strchr (addr, ':') != NULL)
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons (port);
      g_assert_cmpint (inet_pton (AF_INET6, addr, &sin6->sin6_addr), ==, 1);
      return sizeof *sin6;
    }
  struct sockaddr_in *sin = (struct sockaddr_in *) ss;
  sin->sin_family = AF_INET;
  sin->sin_port = htons (port);
  g_assert_cmpint (inet_pton (AF_INET, addr, &sin->sin_addr), ==, 1);
  return sizeof *sin;
}

/* Listener */

static int
listen_on (int family, const char *addr, guint16 port)
{
  struct sockaddr_storage ss;
  socklen_t len = parse_addr (addr, port, &ss);
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int on = 1;

  g_assert_cmpint (fd, >=, 0);
  g_assert_no_errno (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on));
  if (family == AF_INET6)
    g_assert_no_errno (setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on));
  g_assert_no_errno (bind (fd, (struct sockaddr *) &ss, len));
  /* Room for the many-connections test, which accepts only at the end. */
  g_assert_no_errno (listen (fd, 4096));
  return fd;
}

SgKtestListener *
sg_ktest_listener_new (guint16 port, gboolean any)
{
  SgKtestListener *listener = g_new0 (SgKtestListener, 1);

  listener->port = port;
  listener->fd4 = listen_on (AF_INET, any ? "0.0.0.0" : "127.0.0.1", port);
  listener->fd6 = any ? -1 : listen_on (AF_INET6, "::1", port);
  return listener;
}

/* A socket stays in the namespace it was made in: make it there, come back. */
SgKtestListener *
sg_ktest_listener_new_in_netns (guint16 port, const char *netns_path)
{
  int here = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int there = open (netns_path, O_RDONLY | O_CLOEXEC);
  SgKtestListener *listener;

  g_assert_cmpint (here, >=, 0);
  g_assert_cmpint (there, >=, 0);
  g_assert_no_errno (setns (there, CLONE_NEWNET));
  listener = sg_ktest_listener_new (port, TRUE);
  g_assert_no_errno (setns (here, CLONE_NEWNET));
  close (there);
  close (here);
  return listener;
}

int
sg_ktest_listener_accept (SgKtestListener *listener, int family, int timeout_ms)
{
  struct pollfd pfd
      = { .fd = family == AF_INET6 ? listener->fd6 : listener->fd4, .events = POLLIN };

  g_assert_cmpint (pfd.fd, >=, 0);
  if (poll (&pfd, 1, timeout_ms) <= 0)
    return -1;
  return accept4 (pfd.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

void
sg_ktest_listener_free (SgKtestListener *listener)
{
  if (listener == NULL)
    return;
  close (listener->fd4);
  if (listener->fd6 >= 0)
    close (listener->fd6);
  g_free (listener);
}

/* Plain socket I/O */

int
sg_ktest_fd_send (int fd)
{
  return send (fd, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : errno;
}

int
sg_ktest_fd_recv (int fd, int timeout_ms)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  char buf[64];

  int ready = poll (&pfd, 1, timeout_ms);
  if (ready < 0)
    return errno;
  if (ready == 0)
    return ETIMEDOUT;
  ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0)
    return 0;
  if (n == 0)
    return SG_KTEST_EOF;
  return errno;
}

static int
connect_with_timeout (const struct sockaddr_storage *ss, socklen_t len, int timeout_ms, int *out_fd)
{
  int fd = socket (ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = 0;
  socklen_t err_len = sizeof err;

  if (fd < 0)
    return errno;
  if (connect (fd, (const struct sockaddr *) ss, len) < 0)
    {
      if (errno != EINPROGRESS)
        err = errno;
      else
        {
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };
          int ready = poll (&pfd, 1, timeout_ms);
          if (ready < 0)
            err = errno;
          else if (ready == 0)
            err = ETIMEDOUT;
          else if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
            err = errno;
        }
    }
  if (err != 0 || out_fd == NULL)
    close (fd);
  else
    *out_fd = fd;
  return err;
}

/* Client process */

typedef enum
{
  CMD_CONNECT,
  CMD_SEND,
  CMD_RECV,
  CMD_CLOSE,
  CMD_CONNECT_LOOP,
  CMD_RUN,
  CMD_HAMMER,
  CMD_HAMMER_STOP,
} SgKtestCmdOp;

typedef struct
{
  SgKtestCmdOp op;
  int slot;
  int timeout_ms;
  guint count;
  socklen_t addr_len;
  struct sockaddr_storage addr;
  int (*func) (void);
} SgKtestCmd;

typedef struct
{
  int err;
  int slot;
  guint count;
  guint attempts;
} SgKtestReply;

struct _SgKtestClient
{
  pid_t pid;
  int fd;
};

#define CLIENT_MAX_SLOTS 256

/* The port given, on 127.0.0.1 and [::1] in turn, one attempt a millisecond,
 * until the next command (CMD_HAMMER_STOP) arrives on @control. */
static SgKtestReply
client_hammer (int control, guint16 port)
{
  SgKtestReply reply = { 0 };
  struct sockaddr_storage addrs[2];
  socklen_t lens[2]
      = { parse_addr ("127.0.0.1", port, &addrs[0]), parse_addr ("::1", port, &addrs[1]) };
  struct pollfd pfd = { .fd = control, .events = POLLIN };

  while (poll (&pfd, 1, 1) == 0 || (pfd.revents & POLLIN) == 0)
    {
      int err
          = connect_with_timeout (&addrs[reply.attempts % 2], lens[reply.attempts % 2], 1000, NULL);
      reply.attempts++;
      if (err == 0)
        reply.count++;
      else if (err != ECONNREFUSED && reply.err == 0)
        reply.err = err;
    }
  return reply;
}

static SgKtestReply
client_handle (const SgKtestCmd *cmd, int *slots)
{
  SgKtestReply reply = { 0 };
  int fd = cmd->slot >= 0 && cmd->slot < CLIENT_MAX_SLOTS ? slots[cmd->slot] : -1;

  switch (cmd->op)
    {
    case CMD_CONNECT:
      reply.slot = -1;
      for (int i = 0; i < CLIENT_MAX_SLOTS; i++)
        if (slots[i] < 0)
          {
            reply.slot = i;
            break;
          }
      if (reply.slot < 0)
        reply.err = EMFILE;
      else
        reply.err
            = connect_with_timeout (&cmd->addr, cmd->addr_len, cmd->timeout_ms, &slots[reply.slot]);
      break;
    case CMD_SEND:
      reply.err = fd < 0 ? EBADF : sg_ktest_fd_send (fd);
      break;
    case CMD_RECV:
      reply.err = fd < 0 ? EBADF : sg_ktest_fd_recv (fd, cmd->timeout_ms);
      break;
    case CMD_CLOSE:
      reply.err = fd < 0 ? EBADF : (close (fd) < 0 ? errno : 0);
      if (fd >= 0)
        slots[cmd->slot] = -1;
      break;
    case CMD_CONNECT_LOOP:
      for (guint i = 0; i < cmd->count; i++)
        {
          int err = connect_with_timeout (&cmd->addr, cmd->addr_len, cmd->timeout_ms, NULL);
          if (err == 0)
            reply.count++;
          else if (reply.err == 0)
            reply.err = err;
        }
      break;
    case CMD_RUN:
      reply.err = cmd->func ();
      break;
    default:
      reply.err = EINVAL;
    }
  return reply;
}

/* In the child: no GLib test machinery, _exit() only. */
G_GNUC_NORETURN static void
client_main (int fd, guint32 uid, const char *netns_path)
{
  int slots[CLIENT_MAX_SLOTS];

  /* Only the control socket: an inherited listener would outlive its test. */
  if (dup2 (fd, 3) < 0)
    _exit (120);
  fd = 3;
  close_range (4, ~0U, 0);

  if (netns_path != NULL)
    {
      int ns = open (netns_path, O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns (ns, CLONE_NEWNET) < 0)
        _exit (121);
      close (ns);
    }
  if (uid != 0
      && (setgroups (0, NULL) < 0 || setresgid (uid, uid, uid) < 0
          || setresuid (uid, uid, uid) < 0))
    _exit (122);

  for (int i = 0; i < CLIENT_MAX_SLOTS; i++)
    slots[i] = -1;

  for (;;)
    {
      SgKtestCmd cmd;
      ssize_t n = recv (fd, &cmd, sizeof cmd, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n != sizeof cmd)
        _exit (0);
      SgKtestReply reply;
      if (cmd.op == CMD_HAMMER)
        {
          guint16 port = ntohs (((struct sockaddr_in *) &cmd.addr)->sin_port);
          reply = client_hammer (fd, port);
          /* The stop command that ended it is answered by this reply. */
          n = recv (fd, &cmd, sizeof cmd, 0);
          if (n != sizeof cmd || cmd.op != CMD_HAMMER_STOP)
            _exit (124);
        }
      else
        reply = client_handle (&cmd, slots);
      if (send (fd, &reply, sizeof reply, MSG_NOSIGNAL) != sizeof reply)
        _exit (123);
    }
}

SgKtestClient *
sg_ktest_client_new_in_netns (guint32 uid, const char *netns_path)
{
  SgKtestClient *client = g_new0 (SgKtestClient, 1);
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds));
  client->pid = fork ();
  g_assert_cmpint (client->pid, >=, 0);
  if (client->pid == 0)
    client_main (fds[1], uid, netns_path);
  close (fds[1]);
  client->fd = fds[0];
  return client;
}

SgKtestClient *
sg_ktest_client_new (guint32 uid)
{
  return sg_ktest_client_new_in_netns (uid, NULL);
}

static SgKtestReply
client_call (SgKtestClient *client, const SgKtestCmd *cmd)
{
  SgKtestReply reply;

  g_assert_cmpint (send (client->fd, cmd, sizeof *cmd, MSG_NOSIGNAL), ==, sizeof *cmd);
  g_assert_cmpint (recv (client->fd, &reply, sizeof reply, 0), ==, sizeof reply);
  return reply;
}

int
sg_ktest_client_connect (SgKtestClient *client, const char *addr, guint16 port, int timeout_ms,
                         int *slot)
{
  SgKtestCmd cmd = { .op = CMD_CONNECT, .timeout_ms = timeout_ms };

  cmd.addr_len = parse_addr (addr, port, &cmd.addr);
  SgKtestReply reply = client_call (client, &cmd);
  if (slot != NULL)
    *slot = reply.err == 0 ? reply.slot : -1;
  return reply.err;
}

int
sg_ktest_client_send (SgKtestClient *client, int slot)
{
  SgKtestCmd cmd = { .op = CMD_SEND, .slot = slot };

  return client_call (client, &cmd).err;
}

int
sg_ktest_client_recv (SgKtestClient *client, int slot, int timeout_ms)
{
  SgKtestCmd cmd = { .op = CMD_RECV, .slot = slot, .timeout_ms = timeout_ms };

  return client_call (client, &cmd).err;
}

int
sg_ktest_client_close (SgKtestClient *client, int slot)
{
  SgKtestCmd cmd = { .op = CMD_CLOSE, .slot = slot };

  return client_call (client, &cmd).err;
}

int
sg_ktest_client_connect_loop (SgKtestClient *client, const char *addr, guint16 port, guint n,
                              guint *n_ok)
{
  SgKtestCmd cmd = { .op = CMD_CONNECT_LOOP, .count = n, .timeout_ms = 5000 };

  cmd.addr_len = parse_addr (addr, port, &cmd.addr);
  SgKtestReply reply = client_call (client, &cmd);
  *n_ok = reply.count;
  return reply.err;
}

void
sg_ktest_client_hammer_start (SgKtestClient *client, guint16 port)
{
  SgKtestCmd cmd = { .op = CMD_HAMMER };

  cmd.addr_len = parse_addr ("127.0.0.1", port, &cmd.addr);
  g_assert_cmpint (send (client->fd, &cmd, sizeof cmd, MSG_NOSIGNAL), ==, sizeof cmd);
}

guint
sg_ktest_client_hammer_stop (SgKtestClient *client, guint *n_attempts)
{
  SgKtestCmd cmd = { .op = CMD_HAMMER_STOP };
  SgKtestReply reply = client_call (client, &cmd);

  /* Anything but a connection or a reset (a timeout, no memory) would make
   * the count mean less than it says. */
  g_assert_cmpstr (sg_ktest_errno_name (reply.err), ==, sg_ktest_errno_name (0));
  *n_attempts = reply.attempts;
  return reply.count;
}

int
sg_ktest_client_run (SgKtestClient *client, int (*func) (void))
{
  SgKtestCmd cmd = { .op = CMD_RUN, .func = func };

  return client_call (client, &cmd).err;
}

void
sg_ktest_client_free (SgKtestClient *client)
{
  int status;

  if (client == NULL)
    return;
  close (client->fd);
  while (waitpid (client->pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_free (client);
}

int
sg_ktest_connect_as (guint32 uid, const char *addr, guint16 port)
{
  g_autoptr (SgKtestClient) client = sg_ktest_client_new (uid);

  return sg_ktest_client_connect (client, addr, port, 3000, NULL);
}

/* Remote namespace */

static void
run_checked (const char *command)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_spawn_command_line_sync (command, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed: %s%s", command, out, err);
}

SgKtestRemote *
sg_ktest_remote_new (void)
{
  SgKtestRemote *remote = g_new0 (SgKtestRemote, 1);
  int ready[2], hold[2];
  char byte;

  g_assert_no_errno (pipe2 (ready, O_CLOEXEC));
  g_assert_no_errno (pipe2 (hold, O_CLOEXEC));
  remote->holder = fork ();
  g_assert_cmpint (remote->holder, >=, 0);
  if (remote->holder == 0)
    {
      /* Holds the namespace until the parent closes its end of @hold. */
      close (hold[1]);
      if (unshare (CLONE_NEWNET) < 0 || write (ready[1], "r", 1) != 1)
        _exit (1);
      while (read (hold[0], &byte, 1) > 0)
        ;
      _exit (0);
    }
  close (ready[1]);
  close (hold[0]);
  g_assert_cmpint (read (ready[0], &byte, 1), ==, 1);
  close (ready[0]);
  remote->holder_fd = hold[1];
  remote->netns_path = g_strdup_printf ("/proc/%d/ns/net", (int) remote->holder);

  g_autofree char *add = g_strdup_printf ("ip link add sgktest0 type veth peer name sgktest1 "
                                          "netns %d",
                                          (int) remote->holder);
  run_checked (add);
  run_checked ("ip addr add 10.99.0.1/24 dev sgktest0");
  run_checked ("ip link set sgktest0 up");
  g_autofree char *remote_cmd
      = g_strdup_printf ("nsenter --net=%s sh -c 'ip link set lo up && ip addr add 10.99.0.2/24 "
                         "dev sgktest1 && ip link set sgktest1 up'",
                         remote->netns_path);
  run_checked (remote_cmd);
  return remote;
}

void
sg_ktest_remote_free (SgKtestRemote *remote)
{
  int status;

  if (remote == NULL)
    return;
  run_checked ("ip link del sgktest0");
  close (remote->holder_fd);
  waitpid (remote->holder, &status, 0);
  g_free (remote->netns_path);
  g_free (remote);
}

guint
sg_ktest_count_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* nftables */

int
sg_ktest_nft (const char *args, char **output)
{
  g_autofree char *command = g_strdup_printf ("nft %s", args);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_spawn_command_line_sync (command, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (output != NULL)
    *output = g_strconcat (out, err, NULL);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

void
sg_ktest_nft_load (const char *script)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("sgktest-XXXXXX.nft", &path, NULL);

  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_true (g_file_set_contents (path, script, -1, NULL));
  g_autofree char *args = g_strdup_printf ("-f %s", path);
  g_assert_cmpint (sg_ktest_nft (args, NULL), ==, 0);
  g_unlink (path);
}

void
sg_ktest_gate_grant (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sg_nft_gate_grant (gate, uid, ports, n_ports, &error));
  g_assert_no_error (error);
}

void
sg_ktest_gate_revoke (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sg_nft_gate_revoke (gate, uid, ports, n_ports, &error));
  g_assert_no_error (error);
}

static int
table_cb (const struct nlmsghdr *nlh, void *data)
{
  struct nftnl_table *table = data;

  nftnl_table_nlmsg_parse (nlh, table);
  return MNL_CB_OK;
}

gboolean
sg_ktest_table_info (guint32 *flags, guint32 *owner)
{
  return sg_ktest_table_info_of ("seatgate", flags, owner);
}

gboolean
sg_ktest_table_info_of (const char *name, guint32 *flags, guint32 *owner)
{
  struct mnl_socket *nl = mnl_socket_open (NETLINK_NETFILTER);
  struct nftnl_table *request = nftnl_table_alloc ();
  struct nftnl_table *table = nftnl_table_alloc ();
  g_autofree char *buf = g_malloc (MNL_SOCKET_BUFFER_SIZE);
  guint32 seq = 1;
  int ret;

  g_assert_nonnull (nl);
  g_assert_no_errno (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID));
  nftnl_table_set_str (request, NFTNL_TABLE_NAME, name);
  struct nlmsghdr *nlh
      = nftnl_table_nlmsg_build_hdr (buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
  nftnl_table_nlmsg_build_payload (nlh, request);
  nftnl_table_free (request);
  g_assert_cmpint (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len), >, 0);

  do
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, MNL_SOCKET_BUFFER_SIZE);
      g_assert_cmpint (n, >, 0);
      ret = mnl_cb_run (buf, (size_t) n, seq, mnl_socket_get_portid (nl), table_cb, table);
    }
  while (ret > MNL_CB_STOP);

  gboolean exists = ret == MNL_CB_STOP && nftnl_table_is_set (table, NFTNL_TABLE_NAME);
  if (ret == MNL_CB_ERROR)
    g_assert_cmpint (errno, ==, ENOENT);
  *flags = nftnl_table_is_set (table, NFTNL_TABLE_FLAGS)
               ? nftnl_table_get_u32 (table, NFTNL_TABLE_FLAGS)
               : 0;
  *owner = nftnl_table_is_set (table, NFTNL_TABLE_OWNER)
               ? nftnl_table_get_u32 (table, NFTNL_TABLE_OWNER)
               : 0;
  nftnl_table_free (table);
  mnl_socket_close (nl);
  return exists;
}

const char *
sg_ktest_errno_name (int err)
{
  if (err == 0)
    return "connected/ok";
  if (err == SG_KTEST_EOF)
    return "EOF";
  return g_strerror (err);
}

void
sg_ktest_assert_connection_ended (int err)
{
  g_test_message ("connection ended: %s", sg_ktest_errno_name (err));
  if (err != ECONNRESET && err != ECONNABORTED && err != SG_KTEST_EOF)
    g_error ("expected the connection to end (ECONNRESET, ECONNABORTED or EOF), got %s",
             sg_ktest_errno_name (err));
}

/* nf_tables notifications */

struct _SgKtestNftMonitor
{
  struct mnl_socket *nl;
};

SgKtestNftMonitor *
sg_ktest_nft_monitor_new (void)
{
  SgKtestNftMonitor *monitor = g_new0 (SgKtestNftMonitor, 1);
  int group = NFNLGRP_NFTABLES;

  monitor->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  g_assert_nonnull (monitor->nl);
  g_assert_no_errno (mnl_socket_bind (monitor->nl, 0, MNL_SOCKET_AUTOPID));
  g_assert_no_errno (
      mnl_socket_setsockopt (monitor->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof group));
  return monitor;
}

typedef struct
{
  guint16 type;
  const char *table;
  guint count;
} MonitorCount;

static int
monitor_table_cb (const struct nlattr *attr, void *data)
{
  const char **table = data;

  /* Type 1 names the table in every nf_tables object (NFTA_*_TABLE). */
  if (mnl_attr_get_type (attr) == 1 && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) >= 0)
    *table = mnl_attr_get_str (attr);
  return MNL_CB_OK;
}

static int
monitor_cb (const struct nlmsghdr *nlh, void *data)
{
  MonitorCount *count = data;
  const char *table = NULL;

  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES
      || NFNL_MSG_TYPE (nlh->nlmsg_type) != count->type)
    return MNL_CB_OK;
  mnl_attr_parse (nlh, sizeof (struct nfgenmsg), monitor_table_cb, &table);
  if (count->table == NULL || (table != NULL && g_str_equal (table, count->table)))
    count->count++;
  return MNL_CB_OK;
}

guint
sg_ktest_nft_monitor_count (SgKtestNftMonitor *monitor, guint16 type, const char *table)
{
  g_autofree char *buf = g_malloc (MNL_SOCKET_BUFFER_SIZE * 4);
  MonitorCount count = { type, table, 0 };

  for (;;)
    {
      ssize_t n = recv (mnl_socket_get_fd (monitor->nl), buf, MNL_SOCKET_BUFFER_SIZE * 4, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      g_assert_cmpint (n, >, 0);
      mnl_cb_run (buf, (size_t) n, 0, 0, monitor_cb, &count);
    }
  return count.count;
}

void
sg_ktest_nft_monitor_free (SgKtestNftMonitor *monitor)
{
  if (monitor == NULL)
    return;
  mnl_socket_close (monitor->nl);
  g_free (monitor);
}
