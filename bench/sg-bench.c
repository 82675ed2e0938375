/* sg-bench: the timing probes of seatgate's benchmark (bench/seatgate_bench.py).
 *
 * Every time it reports is CLOCK_MONOTONIC in nanoseconds, the clock that
 * Python's time.monotonic_ns() reads too, so times taken in different
 * processes (this client, the driver, the helper's log) can be subtracted.
 *
 *   sg-bench serve PORT...        echo server on 127.0.0.1 and ::1 (root)
 *   sg-bench client               line-driven probe (see handle_line ())
 *   sg-bench connrate HOST PORT SECONDS
 *                                 connect/echo/close loop; prints a JSON line
 *   sg-bench pingpong N [PAUSE_US] round trips between two processes over
 *                                 pipes, PAUSE_US (1000) apart: the machine's
 *                                 cost of two wake-ups
 *
 * A root client can make sockets owned by another uid (setfsuid before
 * socket (): the socket's uid, which nftables' skuid and iptables' owner
 * match read, is the creator's fsuid), so one process can run an "old way"
 * command and time that uid's next connect without crossing processes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <gio/gio.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#define GATE_NAME "io.github.seatgate.Gate1"
#define GATE_PATH "/io/github/seatgate/Gate1"
#define GATE_IFACE "io.github.seatgate.Gate1"
#define LOGIND_NAME "org.freedesktop.login1"
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"

/* How long a watch waits for the gate to close. */
#define WATCH_TIMEOUT_NS (3 * G_GINT64_CONSTANT (1000000000))
#define MAX_CONNECT_TRIES 20000

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gboolean
parse_addr (const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
  memset (ss, 0, sizeof *ss);
  if (strchr (host, ':') != NULL)
    {
      struct sockaddr_in6 *sa = (struct sockaddr_in6 *) ss;
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons (port);
      *len = sizeof *sa;
      return inet_pton (AF_INET6, host, &sa->sin6_addr) == 1;
    }
  struct sockaddr_in *sa = (struct sockaddr_in *) ss;
  sa->sin_family = AF_INET;
  sa->sin_port = htons (port);
  *len = sizeof *sa;
  return inet_pton (AF_INET, host, &sa->sin_addr) == 1;
}

/* A socket owned by @uid (-1: by whoever we are). */
static int
socket_as (int family, int uid)
{
  int fd;

  if (uid >= 0)
    setfsuid ((uid_t) uid);
  fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (uid >= 0)
    setfsuid (geteuid ());
  if (fd >= 0)
    {
      struct timeval tv = { .tv_sec = 2 };
      int one = 1;
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  return fd;
}

/* 0 and a connected fd in *out (if @out), or the errno of the failure. */
static int
try_connect (const struct sockaddr_storage *ss, socklen_t len, int uid, int *out)
{
  int fd = socket_as (ss->ss_family, uid);
  int err = 0;

  if (fd < 0)
    return errno;
  if (connect (fd, (const struct sockaddr *) ss, len) < 0)
    err = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
  if (err != 0 || out == NULL)
    close (fd);
  else
    *out = fd;
  return err;
}

static const char *
result_name (int err)
{
  switch (err)
    {
    case 0:
      return "ok";
    case ECONNREFUSED:
    case ECONNRESET:
      return "refused";
    case ETIMEDOUT:
      return "timeout";
    default:
      return "error";
    }
}

static void
sleep_ns (long ns)
{
  struct timespec ts = { .tv_sec = 0, .tv_nsec = ns };
  nanosleep (&ts, NULL);
}

/* Connects until the result is @want ("ok" or "refused"): the time it first
 * was, and the number of tries, or -1. */
static gint64
connect_until (const struct sockaddr_storage *ss, socklen_t len, int uid, const char *want,
               int *tries)
{
  for (*tries = 1; *tries <= MAX_CONNECT_TRIES; (*tries)++)
    {
      int err = try_connect (ss, len, uid, NULL);
      gint64 t = now_ns ();
      if (g_str_equal (result_name (err), want))
        return t;
      sleep_ns (20000);
    }
  return -1;
}

/* ---- serve ---- */

static int
listen_on (const char *host, int port)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int one = 1;

  if (!parse_addr (host, port, &ss, &len))
    return -1;
  int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &ss, len) < 0 || listen (fd, 4096) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static int
serve (int argc, char **argv)
{
  int ep = epoll_create1 (EPOLL_CLOEXEC);
  GHashTable *listeners = g_hash_table_new (NULL, NULL);
  char buf[65536];

  for (int i = 0; i < argc; i++)
    for (int h = 0; h < 2; h++)
      {
        int fd = listen_on (h == 0 ? "127.0.0.1" : "::1", atoi (argv[i]));
        if (fd < 0)
          {
            fprintf (stderr, "sg-bench serve: cannot listen on port %s: %s\n", argv[i],
                     strerror (errno));
            return 1;
          }
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl (ep, EPOLL_CTL_ADD, fd, &ev);
        g_hash_table_add (listeners, GINT_TO_POINTER (fd));
      }
  /* Ends when the driver closes our stdin. */
  struct epoll_event in = { .events = EPOLLIN | EPOLLHUP, .data.fd = 0 };
  epoll_ctl (ep, EPOLL_CTL_ADD, 0, &in);
  printf ("ready\n");
  fflush (stdout);

  for (;;)
    {
      struct epoll_event evs[64];
      int n = epoll_wait (ep, evs, G_N_ELEMENTS (evs), -1);
      if (n < 0 && errno == EINTR)
        continue;
      for (int i = 0; i < n; i++)
        {
          int fd = evs[i].data.fd;
          if (fd == 0)
            return 0;
          if (g_hash_table_contains (listeners, GINT_TO_POINTER (fd)))
            {
              int c;
              while ((c = accept4 (fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
                {
                  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
                  epoll_ctl (ep, EPOLL_CTL_ADD, c, &ev);
                }
              continue;
            }
          for (;;)
            {
              ssize_t r = read (fd, buf, sizeof buf);
              if (r > 0)
                {
                  /* Loopback peers read fast; a short write just drops the
                   * echo's tail, which no probe here depends on. */
                  if (write (fd, buf, (size_t) r) < 0 && errno != EAGAIN)
                    {
                      close (fd);
                      break;
                    }
                  continue;
                }
              if (r < 0 && (errno == EAGAIN || errno == EINTR))
                break;
              close (fd);
              break;
            }
        }
    }
}

/* ---- connrate ---- */

static int
connrate (const char *host, int port, double seconds)
{
  struct sockaddr_storage ss;
  socklen_t len;
  char msg[64] = "seatgate connection-rate probe", back[64];
  guint64 ok = 0, failed = 0, stalled = 0;

  if (!parse_addr (host, port, &ss, &len))
    return 2;
  gint64 start = now_ns ();
  gint64 end = start + (gint64) (seconds * 1e9);
  gint64 worst = 0;
  while (now_ns () < end)
    {
      int fd = -1;
      gint64 t0 = now_ns ();
      int err = try_connect (&ss, len, -1, &fd);
      if (err == 0)
        {
          gsize got = 0;
          if (write (fd, msg, sizeof msg) == (ssize_t) sizeof msg)
            while (got < sizeof back)
              {
                ssize_t r = read (fd, back + got, sizeof back - got);
                if (r <= 0)
                  break;
                got += (gsize) r;
              }
          close (fd);
          if (got == sizeof back)
            ok++;
          else
            failed++;
        }
      else
        failed++;
      gint64 took = now_ns () - t0;
      if (took > 100000000)
        stalled++;
      worst = MAX (worst, took);
    }
  double elapsed = (now_ns () - start) / 1e9;
  printf ("{\"ok\": %" G_GUINT64_FORMAT ", \"failed\": %" G_GUINT64_FORMAT
          ", \"stalled\": %" G_GUINT64_FORMAT ", \"seconds\": %.6f, \"rate\": %.1f, "
          "\"worst_ns\": %" G_GINT64_FORMAT "}\n",
          ok, failed, stalled, elapsed, ok / elapsed, worst);
  return 0;
}

/* ---- pingpong ---- */

static int
pingpong (int n, long pause_us)
{
  int there[2], back[2];
  char c = 'x';

  if (pipe (there) < 0 || pipe (back) < 0)
    return 1;
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (there[1]);
      close (back[0]);
      while (read (there[0], &c, 1) == 1 && write (back[1], &c, 1) == 1)
        ;
      _exit (0);
    }
  close (there[0]);
  close (back[1]);
  for (int i = 0; i < n; i++)
    {
      gint64 t0 = now_ns ();
      if (write (there[1], &c, 1) != 1 || read (back[0], &c, 1) != 1)
        return 1;
      printf ("%s%" G_GINT64_FORMAT, i > 0 ? " " : "", now_ns () - t0);
      /* Let both sides fall asleep, as the helper does between events. */
      g_usleep (pause_us);
    }
  printf ("\n");
  close (there[1]);
  waitpid (pid, NULL, 0);
  return 0;
}

/* ---- client ---- */

typedef struct
{
  GDBusConnection *bus;
  guint filter_id;
  gint64 signal_at; /* first logind PropertiesChanged since armed; written by GDBus' thread */
  gint armed;
  int held; /* a held connection, or -1 */
  int nft;  /* nf_tables notifications, or -1 */
} Client;

static GDBusMessage *
on_message (GDBusConnection *bus, GDBusMessage *message, gboolean incoming, gpointer data)
{
  Client *client = data;

  if (incoming && g_atomic_int_get (&client->armed)
      && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_SIGNAL
      && g_strcmp0 (g_dbus_message_get_member (message), "PropertiesChanged") == 0
      && g_str_has_prefix (g_dbus_message_get_path (message), "/org/freedesktop/login1/"))
    {
      gint64 t = now_ns ();
      if (g_atomic_int_compare_and_exchange (&client->armed, 1, 0))
        client->signal_at = t;
    }
  return message;
}

static gboolean
client_bus (Client *client, GString *out)
{
  g_autoptr (GError) error = NULL;
  const char *address = g_getenv ("DBUS_SYSTEM_BUS_ADDRESS");

  if (client->bus != NULL)
    {
      g_string_append_printf (out, "ok %s", g_dbus_connection_get_unique_name (client->bus));
      return TRUE;
    }
  client->bus = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  if (client->bus == NULL)
    {
      g_string_append_printf (out, "err %s", error->message);
      return FALSE;
    }
  g_dbus_connection_set_exit_on_close (client->bus, FALSE);
  client->filter_id = g_dbus_connection_add_filter (client->bus, on_message, client, NULL);
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      client->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "AddMatch",
      g_variant_new ("(s)",
                     "type='signal',sender='" LOGIND_NAME "',"
                     "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'"),
      NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  if (r == NULL)
    {
      g_string_append_printf (out, "err AddMatch: %s", error->message);
      return FALSE;
    }
  g_string_append_printf (out, "ok %s", g_dbus_connection_get_unique_name (client->bus));
  return TRUE;
}

static void
client_unbus (Client *client)
{
  if (client->bus == NULL)
    return;
  g_dbus_connection_remove_filter (client->bus, client->filter_id);
  g_dbus_connection_close_sync (client->bus, NULL, NULL);
  g_clear_object (&client->bus);
}

static GVariant *
gate_call (Client *client, const char *method, GError **error)
{
  if (client->bus == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "not on the bus");
      return NULL;
    }
  return g_dbus_connection_call_sync (client->bus, GATE_NAME, GATE_PATH, GATE_IFACE, method, NULL,
                                      NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
}

static void
drop_held (Client *client)
{
  if (client->held >= 0)
    close (client->held);
  client->held = -1;
}

/* Has the held connection ended? Waits up to @wait_ns for it. */
static gboolean
held_ended (Client *client, long wait_ns)
{
  struct pollfd p = { .fd = client->held, .events = POLLIN | POLLRDHUP };
  struct timespec ts = { .tv_sec = 0, .tv_nsec = wait_ns };
  char c;

  if (ppoll (&p, 1, &ts, NULL) <= 0)
    return FALSE;
  ssize_t r = recv (client->held, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
}

/* After the gate was told to close (at @t0, or when a logind signal arrives
 * if @t0 is 0): when did the held connection end (ppoll wakes on it, so this
 * is exact), and is a new connect refused right after? The kernel's own
 * moment of refusal, the set element's removal, is taken by the root probe's
 * nftwait: probing with connects meanwhile would load the 2 cores that the
 * helper, the bus and the stand-ins share. */
static void
watch_closing (Client *client, const struct sockaddr_storage *ss, socklen_t len, int uid, gint64 t0,
               GString *out)
{
  gint64 deadline = now_ns () + WATCH_TIMEOUT_NS;
  gint64 tb = -1;

  while (client->held >= 0 && tb < 0 && now_ns () < deadline)
    if (held_ended (client, 1000000))
      tb = now_ns ();
  int err = try_connect (ss, len, uid, NULL);
  gint64 tp = now_ns ();
  if (t0 == 0)
    t0 = client->signal_at;
  g_atomic_int_set (&client->armed, 0);
  g_string_append_printf (out, "ok %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %s %" G_GINT64_FORMAT,
                          t0 > 0 ? t0 : -1, tb, result_name (err), tp);
}

/* nf_tables notifications (root): the moment a set element leaves. */
static int
nft_watch_open (void)
{
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1u << (NFNLGRP_NFTABLES - 1) };
  int size = 4 << 20;

  if (fd < 0)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static char nft_buf[1 << 16];

static void
nft_drain (int fd)
{
  while (recv (fd, nft_buf, sizeof nft_buf, MSG_DONTWAIT) > 0)
    ;
}

/* Waits up to @ms for a DELSETELEM notification: its arrival time, or -1. */
static gint64
nft_wait_delsetelem (int fd, int ms)
{
  char *buf = nft_buf;
  gint64 deadline = now_ns () + (gint64) ms * 1000000;

  for (;;)
    {
      gint64 left = deadline - now_ns ();
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (left <= 0 || poll (&p, 1, (int) (left / 1000000) + 1) <= 0)
        return -1;
      ssize_t n = recv (fd, buf, sizeof nft_buf, MSG_DONTWAIT);
      gint64 t = now_ns ();
      int len = (int) n;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; n > 0 && NLMSG_OK (h, len);
           h = NLMSG_NEXT (h, len))
        if (NFNL_SUBSYS_ID (h->nlmsg_type) == NFNL_SUBSYS_NFTABLES
            && NFNL_MSG_TYPE (h->nlmsg_type) == NFT_MSG_DELSETELEM)
          return t;
    }
}

static int
run_argv (char **argv)
{
  pid_t pid = fork ();
  int status = 0;

  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR);
      dup2 (null, 0);
      dup2 (null, 1);
      execvp (argv[0], argv);
      _exit (127);
    }
  if (pid < 0)
    return -1;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static void
rtt (Client *client, const char *kind, int n, GString *out)
{
  g_autoptr (GError) error = NULL;

  g_string_append (out, "ok");
  for (int i = 0; i < n; i++)
    {
      g_autoptr (GVariant) r = NULL;
      gint64 t0 = now_ns ();
      if (g_str_equal (kind, "bus"))
        r = g_dbus_connection_call_sync (
            client->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetConnectionUnixUser",
            g_variant_new ("(s)", g_dbus_connection_get_unique_name (client->bus)), NULL,
            G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
      else if (g_str_equal (kind, "logind"))
        r = g_dbus_connection_call_sync (client->bus, LOGIND_NAME,
                                         "/org/freedesktop/login1/session/_32",
                                         "org.freedesktop.DBus.Properties", "GetAll",
                                         g_variant_new ("(s)", "org.freedesktop.login1.Session"),
                                         NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
      else if (g_str_equal (kind, "polkit"))
        {
          GVariantBuilder details;
          g_variant_builder_init (&details, G_VARIANT_TYPE ("a{sv}"));
          g_variant_builder_add (
              &details, "{sv}", "name",
              g_variant_new_string (g_dbus_connection_get_unique_name (client->bus)));
          r = g_dbus_connection_call_sync (
              client->bus, POLKIT_NAME, POLKIT_PATH, "org.freedesktop.PolicyKit1.Authority",
              "CheckAuthorization",
              g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &details,
                             "io.github.seatgate.grant", NULL, 0, ""),
              NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
        }
      else if (g_str_equal (kind, "gate"))
        r = g_dbus_connection_call_sync (client->bus, GATE_NAME, GATE_PATH,
                                         "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", GATE_IFACE, "Version"), NULL,
                                         G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
      gint64 t1 = now_ns ();
      if (r == NULL)
        {
          g_string_truncate (out, 0);
          g_string_append_printf (out, "err %s: %s", kind,
                                  error != NULL ? error->message : "unknown kind");
          return;
        }
      g_string_append_printf (out, " %" G_GINT64_FORMAT, t1 - t0);
    }
}

/* One request line, one answer line ("ok ..." or "err ..."):
 *   bus | unbus                         join / leave the system bus
 *   grant HOST PORT                     Grant (), then connect until one succeeds:
 *                                       ok T_CALL T_REPLY T_CONNECTED TRIES
 *   release                             Release ()
 *   open HOST PORT [UID]                hold a connection (as UID: root only)
 *   echo                                one round trip on the held connection
 *   isopen                              ok open|closed
 *   drop                                close the held connection
 *   arm                                 the next logind PropertiesChanged is T0
 *   watch HOST PORT [UID]               after arm: ok T0 T_HELD_ENDED PROBE T_PROBE
 *                                       (PROBE: a new connect's result after that)
 *   leave HOST PORT                     T0 = now, leave the bus, then as watch
 *   nftdrain                            (root) forget nf_tables notifications so far
 *   nftwait MS                          (root) ok T of the next DELSETELEM, or -1
 *   run UID WANT HOST PORT ARGV...      T0, run ARGV, connect as UID until WANT:
 *                                       ok T0 T_EXITED T_WANT TRIES STATUS
 *   rtt bus|logind|polkit|gate N        ok NS...
 *   quit */
static gboolean
handle_line (Client *client, char *line, GString *out)
{
  g_auto (GStrv) w = g_strsplit_set (g_strstrip (line), " ", -1);
  guint n = g_strv_length (w);
  g_autoptr (GError) error = NULL;
  struct sockaddr_storage ss;
  socklen_t len;

  if (n == 0 || *w[0] == '\0')
    {
      g_string_append (out, "err empty");
      return TRUE;
    }
  const char *cmd = w[0];
  if (g_str_equal (cmd, "quit"))
    return FALSE;
  if (g_str_equal (cmd, "bus"))
    client_bus (client, out);
  else if (g_str_equal (cmd, "unbus"))
    {
      client_unbus (client);
      g_string_append (out, "ok");
    }
  else if (g_str_equal (cmd, "grant") && n >= 3 && parse_addr (w[1], atoi (w[2]), &ss, &len))
    {
      gint64 t0 = now_ns ();
      g_autoptr (GVariant) r = gate_call (client, "Grant", &error);
      gint64 t1 = now_ns ();
      int tries = 0;
      if (r == NULL)
        {
          g_dbus_error_strip_remote_error (error);
          g_string_append_printf (out, "err %s", error->message);
        }
      else
        {
          gint64 t2 = connect_until (&ss, len, -1, "ok", &tries);
          g_string_append_printf (
              out, "ok %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d", t0, t1,
              t2, tries);
        }
    }
  else if (g_str_equal (cmd, "release"))
    {
      g_autoptr (GVariant) r = gate_call (client, "Release", &error);
      if (r == NULL)
        g_string_append_printf (out, "err %s", error->message);
      else
        g_string_append (out, "ok");
    }
  else if (g_str_equal (cmd, "open") && n >= 3 && parse_addr (w[1], atoi (w[2]), &ss, &len))
    {
      drop_held (client);
      int err = try_connect (&ss, len, n >= 4 ? atoi (w[3]) : -1, &client->held);
      if (err != 0)
        g_string_append_printf (out, "err %s", result_name (err));
      else
        g_string_append (out, "ok");
    }
  else if (g_str_equal (cmd, "echo"))
    {
      char c = 'x';
      if (client->held < 0 || write (client->held, &c, 1) != 1 || read (client->held, &c, 1) != 1)
        g_string_append_printf (out, "ok closed");
      else
        g_string_append (out, "ok open");
    }
  else if (g_str_equal (cmd, "isopen"))
    g_string_append_printf (out, "ok %s",
                            client->held >= 0 && !held_ended (client, 0) ? "open" : "closed");
  else if (g_str_equal (cmd, "drop"))
    {
      drop_held (client);
      g_string_append (out, "ok");
    }
  else if (g_str_equal (cmd, "arm"))
    {
      client->signal_at = 0;
      g_atomic_int_set (&client->armed, 1);
      g_string_append (out, "ok");
    }
  else if (g_str_equal (cmd, "watch") && n >= 3 && parse_addr (w[1], atoi (w[2]), &ss, &len))
    watch_closing (client, &ss, len, n >= 4 ? atoi (w[3]) : -1, 0, out);
  else if (g_str_equal (cmd, "leave") && n >= 3 && parse_addr (w[1], atoi (w[2]), &ss, &len))
    {
      gint64 t0 = now_ns ();
      client_unbus (client);
      watch_closing (client, &ss, len, -1, t0, out);
    }
  else if (g_str_equal (cmd, "run") && n >= 6 && parse_addr (w[3], atoi (w[4]), &ss, &len))
    {
      int tries = 0;
      gint64 t0 = now_ns ();
      int status = run_argv (w + 5);
      gint64 t1 = now_ns ();
      gint64 t2 = connect_until (&ss, len, atoi (w[1]), w[2], &tries);
      g_string_append_printf (
          out, "ok %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d %d", t0, t1,
          t2, tries, status);
    }
  else if (g_str_equal (cmd, "nftdrain") || g_str_equal (cmd, "nftwait"))
    {
      if (client->nft < 0)
        client->nft = nft_watch_open ();
      if (client->nft < 0)
        g_string_append_printf (out, "err nf_tables notifications: %s", strerror (errno));
      else if (g_str_equal (cmd, "nftdrain"))
        {
          nft_drain (client->nft);
          g_string_append (out, "ok");
        }
      else
        g_string_append_printf (out, "ok %" G_GINT64_FORMAT,
                                nft_wait_delsetelem (client->nft, n >= 2 ? atoi (w[1]) : 3000));
    }
  else if (g_str_equal (cmd, "rtt") && n >= 3 && client->bus != NULL)
    rtt (client, w[1], atoi (w[2]), out);
  else
    g_string_append_printf (out, "err bad request: %s", line);
  return TRUE;
}

static int
client_main (void)
{
  Client client = { .held = -1, .nft = -1 };
  char line[4096];

  printf ("hello %u %d\n", (unsigned) getuid (), (int) getpid ());
  fflush (stdout);
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_autoptr (GString) out = g_string_new (NULL);
      if (!handle_line (&client, line, out))
        break;
      printf ("%s\n", out->str);
      fflush (stdout);
    }
  drop_held (&client);
  client_unbus (&client);
  return 0;
}

int
main (int argc, char **argv)
{
  signal (SIGPIPE, SIG_IGN);
  if (argc >= 2 && g_str_equal (argv[1], "serve"))
    return serve (argc - 2, argv + 2);
  if (argc >= 2 && g_str_equal (argv[1], "client"))
    return client_main ();
  if (argc == 5 && g_str_equal (argv[1], "connrate"))
    return connrate (argv[2], atoi (argv[3]), g_ascii_strtod (argv[4], NULL));
  if ((argc == 3 || argc == 4) && g_str_equal (argv[1], "pingpong"))
    return pingpong (atoi (argv[2]), argc == 4 ? atol (argv[3]) : 1000);
  fprintf (stderr, "usage: sg-bench serve PORT... | client | connrate HOST PORT SECONDS | "
                   "pingpong N [PAUSE_US]\n");
  return 2;
}
