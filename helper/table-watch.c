#include "table-watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include "gate-reset.h"
#include "nft-gate.h"
#include "sg-names.h"

/* In every nf_tables object's attributes, type 1 names the table the object
 * belongs to (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE,
 * NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, ...). */
#define SG_NFTA_ANY_TABLE 1

struct _SgTableWatch
{
  struct mnl_socket *nl;
  guint32 own_portid;
  guint source_id;
  SgTableTamperedFunc tampered;
  gpointer user_data;
  /* The change seen in the current transaction, reported at its NEWGEN
   * (which names the process that made it). */
  char *pending;
  guint pending_rank;
};

static const char *
message_name (guint16 type)
{
  switch (type)
    {
    case NFT_MSG_DELTABLE:
      return "table deleted";
    case NFT_MSG_NEWTABLE:
      return "table changed";
    case NFT_MSG_DELCHAIN:
      return "chain deleted";
    case NFT_MSG_NEWCHAIN:
      return "chain added or changed";
    case NFT_MSG_DELRULE:
      return "rule deleted";
    case NFT_MSG_NEWRULE:
      return "rule added";
    case NFT_MSG_DELSET:
      return "set deleted";
    case NFT_MSG_NEWSET:
      return "set added";
    case NFT_MSG_DELSETELEM:
      return "set element deleted";
    case NFT_MSG_NEWSETELEM:
      return "set element added";
    default:
      return "object changed";
    }
}

/* A transaction that deletes the table first deletes its rules, chains and
 * sets, each with a notification of its own: name the biggest change, not
 * the first. */
static guint
message_rank (guint16 type)
{
  switch (type)
    {
    case NFT_MSG_DELTABLE:
      return 6;
    case NFT_MSG_DELCHAIN:
      return 5;
    case NFT_MSG_DELSET:
      return 4;
    case NFT_MSG_DELRULE:
      return 3;
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM:
      return 2;
    default:
      return 1;
    }
}

static int
table_attr_cb (const struct nlattr *attr, void *data)
{
  const char **table = data;

  if (mnl_attr_get_type (attr) == SG_NFTA_ANY_TABLE
      && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) >= 0)
    *table = mnl_attr_get_str (attr);
  return MNL_CB_OK;
}

typedef struct
{
  const char *name;
  guint32 pid;
} GenInfo;

static int
gen_attr_cb (const struct nlattr *attr, void *data)
{
  GenInfo *gen = data;

  if (mnl_attr_get_type (attr) == NFTA_GEN_PROC_NAME
      && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) >= 0)
    gen->name = mnl_attr_get_str (attr);
  else if (mnl_attr_get_type (attr) == NFTA_GEN_PROC_PID
           && mnl_attr_validate (attr, MNL_TYPE_U32) >= 0)
    gen->pid = ntohl (mnl_attr_get_u32 (attr));
  return MNL_CB_OK;
}

static int
notification_cb (const struct nlmsghdr *nlh, void *data)
{
  SgTableWatch *watch = data;
  const struct nfgenmsg *nfg = mnl_nlmsg_get_payload (nlh);
  guint16 type = NFNL_MSG_TYPE (nlh->nlmsg_type);

  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
    return MNL_CB_OK;

  if (type == NFT_MSG_NEWGEN)
    {
      GenInfo gen = { .name = NULL };
      if (watch->pending == NULL)
        return MNL_CB_OK;
      mnl_attr_parse (nlh, sizeof (*nfg), gen_attr_cb, &gen);
      g_autofree char *what = g_steal_pointer (&watch->pending);
      g_autofree char *full = g_strdup_printf ("%s by %s (pid %u)", what,
                                               gen.name ? gen.name : "an unknown process", gen.pid);
      watch->tampered (full, watch->user_data);
      return MNL_CB_OK;
    }

  /* The helper's own changes carry its socket's port id. */
  if (nlh->nlmsg_pid == watch->own_portid || nfg->nfgen_family != NFPROTO_INET)
    return MNL_CB_OK;
  const char *table = NULL;
  mnl_attr_parse (nlh, sizeof (*nfg), table_attr_cb, &table);
  /* The owned table of kernels 5.12-6.8 cannot be changed by others; a
   * change seen to it anyway (a foreign table of that name) gets the same
   * restore, which replaces it. */
  if (table == NULL || (!g_str_equal (table, SG_TABLE) && !g_str_equal (table, SG_TABLE_OWNED)))
    return MNL_CB_OK;
  if (watch->pending == NULL || message_rank (type) > watch->pending_rank)
    {
      g_free (watch->pending);
      watch->pending = g_strdup_printf ("inet %s: %s", table, message_name (type));
      watch->pending_rank = message_rank (type);
    }
  return MNL_CB_OK;
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer data)
{
  SgTableWatch *watch = data;
  char buf[MNL_SOCKET_BUFFER_SIZE * 4];

  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n < 0 && errno == ENOBUFS)
        {
          /* Notifications were dropped, so anything may have happened:
           * restore to be sure. */
          g_warning ("nf_tables notifications lost (%s)", g_strerror (errno));
          g_clear_pointer (&watch->pending, g_free);
          watch->tampered (NULL, watch->user_data);
          continue;
        }
      if (n < 0)
        {
          /* Blind from now on: a gate nobody watches must not stay up. */
          sg_helper_fail_closed ("Could not read nf_tables notifications (%s)", g_strerror (errno));
        }
      mnl_cb_run (buf, (size_t) n, 0, 0, notification_cb, watch);
    }
  return G_SOURCE_CONTINUE;
}

SgTableWatch *
sg_table_watch_new (guint32 own_portid, SgTableTamperedFunc tampered, gpointer user_data,
                    GError **error)
{
  g_autoptr (SgTableWatch) watch = g_new0 (SgTableWatch, 1);
  int group = NFNLGRP_NFTABLES;
  int size = 4 * 1024 * 1024;

  watch->own_portid = own_portid;
  watch->tampered = tampered;
  watch->user_data = user_data;
  watch->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (watch->nl == NULL || mnl_socket_bind (watch->nl, 0, MNL_SOCKET_AUTOPID) < 0
      || mnl_socket_setsockopt (watch->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "could not listen to nf_tables notifications: %s", g_strerror (saved));
      return NULL;
    }
  /* A burst (a whole ruleset reload) must not overflow before we read it. */
  setsockopt (mnl_socket_get_fd (watch->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  watch->source_id = g_unix_fd_add (mnl_socket_get_fd (watch->nl), G_IO_IN, on_readable, watch);
  return g_steal_pointer (&watch);
}

void
sg_table_watch_free (SgTableWatch *watch)
{
  if (watch == NULL)
    return;
  if (watch->source_id != 0)
    g_source_remove (watch->source_id);
  if (watch->nl != NULL)
    mnl_socket_close (watch->nl);
  g_free (watch->pending);
  g_free (watch);
}
