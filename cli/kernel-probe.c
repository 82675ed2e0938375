#include "kernel-probe.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 2000

gboolean
sgctl_kernel_version (guint *major, guint *minor, char **release)
{
  struct utsname u;

  if (uname (&u) < 0 || sscanf (u.release, "%u.%u", major, minor) != 2)
    return FALSE;
  if (release != NULL)
    *release = g_strdup (u.release);
  return TRUE;
}

static SgctlFeature
at_least (guint want_major, guint want_minor)
{
  guint major, minor;

  if (!sgctl_kernel_version (&major, &minor, NULL))
    return SGCTL_FEATURE_UNKNOWN;
  if (major > want_major || (major == want_major && minor >= want_minor))
    return SGCTL_FEATURE_PRESENT;
  return SGCTL_FEATURE_MISSING;
}

SgctlFeature
sgctl_kernel_has_table_owner (void)
{
  return at_least (5, 12);
}

SgctlFeature
sgctl_kernel_has_sock_destroy (void)
{
  struct
  {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  char buf[512];
  int fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  SgctlFeature result = SGCTL_FEATURE_UNKNOWN;

  if (fd < 0)
    return SGCTL_FEATURE_UNKNOWN;
  memset (&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DESTROY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = AF_INET;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  /* 127.0.0.1:1 -> 127.0.0.1:1 with no cookie: no such socket. */
  msg.req.id.idiag_sport = htons (1);
  msg.req.id.idiag_dport = htons (1);
  msg.req.id.idiag_src[0] = htonl (INADDR_LOOPBACK);
  msg.req.id.idiag_dst[0] = htonl (INADDR_LOOPBACK);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  if (sendto (fd, &msg, sizeof msg, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0
      || poll (&pfd, 1, PROBE_TIMEOUT_MS) <= 0)
    {
      close (fd);
      return SGCTL_FEATURE_UNKNOWN;
    }
  ssize_t n = recv (fd, buf, sizeof buf, 0);
  close (fd);
  if (n < (ssize_t) (NLMSG_HDRLEN + sizeof (struct nlmsgerr)))
    return SGCTL_FEATURE_UNKNOWN;
  const struct nlmsghdr *reply = (const struct nlmsghdr *) (void *) buf;
  if (reply->nlmsg_type != NLMSG_ERROR)
    return SGCTL_FEATURE_UNKNOWN;
  const struct nlmsgerr *err = NLMSG_DATA (reply);
  /* ENOENT: it looked for the socket, so it can destroy one. Without
   * CONFIG_INET_DIAG_DESTROY, TCP has no destroy handler: EOPNOTSUPP. */
  if (err->error == -ENOENT)
    result = SGCTL_FEATURE_PRESENT;
  else if (err->error == -EOPNOTSUPP)
    result = SGCTL_FEATURE_MISSING;
  return result;
}
