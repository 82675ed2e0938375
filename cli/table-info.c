#include "table-info.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>
#include <time.h>
#include "sg-names.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4 /* Linux 6.9; newer than Debian 12's headers */
#endif

typedef struct nftnl_table SgctlNftnlTable;
typedef struct nftnl_set SgctlNftnlSet;
typedef struct nftnl_set_elems_iter SgctlNftnlElemsIter;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlNftnlTable, nftnl_table_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlNftnlSet, nftnl_set_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlNftnlElemsIter, nftnl_set_elems_iter_destroy)

typedef struct mnl_socket SgctlMnlSocket;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlMnlSocket, mnl_socket_close)

void
sgctl_table_info_free (SgctlTableInfo *info)
{
  if (info == NULL)
    return;
  g_clear_pointer (&info->gated, g_array_unref);
  g_clear_pointer (&info->granted, g_array_unref);
  g_clear_pointer (&info->always, g_array_unref);
  g_clear_pointer (&info->cut, g_array_unref);
  g_clear_pointer (&info->owned_table, sgctl_table_info_free);
  g_free (info);
}

static void
set_errno_error (GError **error, int err, const char *what)
{
  if (err == EPERM || err == EACCES)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                 "reading the nftables table needs root (CAP_NET_ADMIN)");
  else
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what, g_strerror (err));
}

/* Sends @nlh and runs @cb on every answer until the ACK or the dump's end.
 * Returns 0 or a positive errno. */
static int
talk (struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  guint32 portid = mnl_socket_get_portid (nl);
  guint32 seq = nlh->nlmsg_seq;
  int ret;

  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    return errno;
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, sizeof buf);
      if (n < 0)
        return errno;
      ret = mnl_cb_run (buf, (size_t) n, seq, portid, cb, data);
      if (ret < 0)
        return errno;
      if (ret == MNL_CB_STOP)
        return 0;
    }
}

static int
table_cb (const struct nlmsghdr *nlh, void *data)
{
  SgctlTableInfo *info = data;
  g_autoptr (SgctlNftnlTable) table = nftnl_table_alloc ();

  if (nftnl_table_nlmsg_parse (nlh, table) < 0)
    return MNL_CB_ERROR;
  info->present = TRUE;
  info->flags = nftnl_table_get_u32 (table, NFTNL_TABLE_FLAGS);
  info->owned = (info->flags & NFT_TABLE_F_OWNER) != 0;
  info->persistent = (info->flags & NFT_TABLE_F_PERSIST) != 0;
  if (nftnl_table_is_set (table, NFTNL_TABLE_OWNER))
    info->owner = nftnl_table_get_u32 (table, NFTNL_TABLE_OWNER);
  return MNL_CB_OK;
}

typedef struct
{
  GArray *into;
  guint key_len; /* SG_PORT_KEY_LEN, SG_UID_KEY_LEN or SG_PAIR_KEY_LEN */
} ElemsRead;

static int
elems_cb (const struct nlmsghdr *nlh, void *data)
{
  ElemsRead *read = data;
  g_autoptr (SgctlNftnlSet) set = nftnl_set_alloc ();
  g_autoptr (SgctlNftnlElemsIter) iter = NULL;
  struct nftnl_set_elem *elem;

  if (nftnl_set_elems_nlmsg_parse (nlh, set) < 0)
    return MNL_CB_ERROR;
  iter = nftnl_set_elems_iter_create (set);
  if (iter == NULL)
    return MNL_CB_ERROR;
  while ((elem = nftnl_set_elems_iter_next (iter)) != NULL)
    {
      guint32 len = 0;
      const guint8 *key = nftnl_set_elem_get (elem, NFTNL_SET_ELEM_KEY, &len);

      if (key == NULL || len < read->key_len)
        continue;
      if (read->key_len == SG_PORT_KEY_LEN)
        {
          guint16 port_be;
          memcpy (&port_be, key, sizeof port_be);
          guint16 port = ntohs (port_be);
          g_array_append_val (read->into, port);
        }
      else if (read->key_len == SG_UID_KEY_LEN)
        {
          guint32 uid;
          memcpy (&uid, key, sizeof uid);
          g_array_append_val (read->into, uid);
        }
      else
        {
          /* uid in host order, then the port in network order padded to 4 */
          SgctlUidPort pair;
          guint16 port_be;
          /* Padding too: sgctl_table_info_tables_agree() compares bytes. */
          memset (&pair, 0, sizeof pair);
          memcpy (&pair.uid, key, sizeof pair.uid);
          memcpy (&port_be, key + 4, sizeof port_be);
          pair.port = ntohs (port_be);
          g_array_append_val (read->into, pair);
        }
    }
  return MNL_CB_OK;
}

static int
compare_u16 (gconstpointer a, gconstpointer b)
{
  return (int) *(const guint16 *) a - (int) *(const guint16 *) b;
}

static int
compare_u32 (gconstpointer a, gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

static int
compare_pair (gconstpointer a, gconstpointer b)
{
  const SgctlUidPort *x = a, *y = b;
  if (x->uid != y->uid)
    return x->uid < y->uid ? -1 : 1;
  return (int) x->port - (int) y->port;
}

static gboolean
read_set (struct mnl_socket *nl, guint32 seq, const char *table_name, const char *name,
          guint key_len, GArray *into, GError **error)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  g_autoptr (SgctlNftnlSet) set = nftnl_set_alloc ();
  ElemsRead read = { into, key_len };

  nftnl_set_set_str (set, NFTNL_SET_TABLE, table_name);
  nftnl_set_set_str (set, NFTNL_SET_NAME, name);
  nftnl_set_set_u32 (set, NFTNL_SET_FAMILY, NFPROTO_INET);
  struct nlmsghdr *nlh
      = nftnl_nlmsg_build_hdr (buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, seq);
  nftnl_set_elems_nlmsg_build_payload (nlh, set);

  int err = talk (nl, nlh, elems_cb, &read);
  /* A table without this set is reported through the empty array. */
  if (err != 0 && err != ENOENT)
    {
      g_autofree char *what = g_strdup_printf ("reading set %s of table inet %s", name, table_name);
      set_errno_error (error, err, what);
      return FALSE;
    }
  return TRUE;
}

static SgctlTableInfo *
table_info_new (void)
{
  SgctlTableInfo *info = g_new0 (SgctlTableInfo, 1);

  info->gated = g_array_new (FALSE, FALSE, sizeof (guint16));
  info->granted = g_array_new (FALSE, FALSE, sizeof (SgctlUidPort));
  info->always = g_array_new (FALSE, FALSE, sizeof (guint32));
  info->cut = g_array_new (FALSE, FALSE, sizeof (SgctlUidPort));
  return info;
}

static gboolean
read_table (struct mnl_socket *nl, guint32 *seq, const char *name, SgctlTableInfo *info,
            GError **error)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  g_autoptr (SgctlNftnlTable) table = nftnl_table_alloc ();

  nftnl_table_set_str (table, NFTNL_TABLE_NAME, name);
  nftnl_table_set_u32 (table, NFTNL_TABLE_FAMILY, NFPROTO_INET);
  struct nlmsghdr *nlh
      = nftnl_table_nlmsg_build_hdr (buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, (*seq)++);
  nftnl_table_nlmsg_build_payload (nlh, table);
  int err = talk (nl, nlh, table_cb, info);
  if (err == ENOENT)
    return TRUE;
  if (err != 0)
    {
      g_autofree char *what = g_strdup_printf ("reading table inet %s", name);
      set_errno_error (error, err, what);
      return FALSE;
    }

  if (!read_set (nl, (*seq)++, name, SG_SET_GATED, SG_PORT_KEY_LEN, info->gated, error)
      || !read_set (nl, (*seq)++, name, SG_SET_GRANTED, SG_PAIR_KEY_LEN, info->granted, error)
      || !read_set (nl, (*seq)++, name, SG_SET_ALWAYS, SG_UID_KEY_LEN, info->always, error)
      || !read_set (nl, (*seq)++, name, SG_SET_CUT, SG_PAIR_KEY_LEN, info->cut, error))
    return FALSE;
  g_array_sort (info->gated, compare_u16);
  g_array_sort (info->granted, compare_pair);
  g_array_sort (info->always, compare_u32);
  g_array_sort (info->cut, compare_pair);
  return TRUE;
}

SgctlTableInfo *
sgctl_table_info_read (GError **error)
{
  g_autoptr (SgctlTableInfo) info = table_info_new ();
  g_autoptr (SgctlMnlSocket) nl = NULL;
  guint32 seq = (guint32) time (NULL);

  info->owned_table = table_info_new ();
  nl = mnl_socket_open (NETLINK_NETFILTER);
  if (nl == NULL)
    {
      set_errno_error (error, errno, "opening a netfilter netlink socket");
      return NULL;
    }
  if (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      set_errno_error (error, errno, "binding the netlink socket");
      return NULL;
    }
  if (!read_table (nl, &seq, SG_TABLE, info, error)
      || !read_table (nl, &seq, SG_TABLE_OWNED, info->owned_table, error))
    return NULL;
  return g_steal_pointer (&info);
}

const SgctlTableInfo *
sgctl_table_info_enforcing (const SgctlTableInfo *info)
{
  if (info->owned_table != NULL && info->owned_table->present)
    return info->owned_table;
  return info;
}

SgctlLayout
sgctl_table_info_layout (const SgctlTableInfo *info)
{
  gboolean owned = info->owned_table != NULL && info->owned_table->present;

  if (!info->present)
    return owned ? SGCTL_LAYOUT_OWNED_ONLY : SGCTL_LAYOUT_MISSING;
  if (owned)
    return SGCTL_LAYOUT_BACKSTOP;
  if (info->persistent)
    return info->owned ? SGCTL_LAYOUT_PERSISTENT : SGCTL_LAYOUT_ORPHAN;
  return SGCTL_LAYOUT_PLAIN;
}

const char *
sgctl_layout_to_string (SgctlLayout layout)
{
  switch (layout)
    {
    case SGCTL_LAYOUT_MISSING:
      return "missing";
    case SGCTL_LAYOUT_PERSISTENT:
      return "persistent";
    case SGCTL_LAYOUT_ORPHAN:
      return "orphan";
    case SGCTL_LAYOUT_BACKSTOP:
      return "owned+backstop";
    case SGCTL_LAYOUT_PLAIN:
      return "plain";
    case SGCTL_LAYOUT_OWNED_ONLY:
      return "owned-only";
    default:
      return "unknown";
    }
}

char *
sgctl_table_info_describe (const SgctlTableInfo *info)
{
  switch (sgctl_table_info_layout (info))
    {
    case SGCTL_LAYOUT_MISSING:
      return g_strdup ("inet " SG_TABLE " is MISSING: the ports are not gated");
    case SGCTL_LAYOUT_PERSISTENT:
      return g_strdup ("inet " SG_TABLE " present, owned by the helper, persistent");
    case SGCTL_LAYOUT_ORPHAN:
      return g_strdup ("inet " SG_TABLE " present, persistent, no owner (the helper is not "
                       "running; the deny holds)");
    case SGCTL_LAYOUT_BACKSTOP:
      return g_strdup ("inet " SG_TABLE_OWNED " present, owned by the helper, with the plain "
                       "backstop inet " SG_TABLE);
    case SGCTL_LAYOUT_PLAIN:
      return g_strdup ("inet " SG_TABLE " present, not owned (any root process may change it)");
    case SGCTL_LAYOUT_OWNED_ONLY:
      return g_strdup ("inet " SG_TABLE_OWNED " present, owned by the helper; its backstop "
                       "inet " SG_TABLE " is MISSING (the helper puts it back)");
    default:
      return g_strdup ("unknown");
    }
}

static gboolean
arrays_equal (GArray *a, GArray *b)
{
  return a->len == b->len
         && memcmp (a->data, b->data, (gsize) a->len * g_array_get_element_size (a)) == 0;
}

gboolean
sgctl_table_info_tables_agree (const SgctlTableInfo *info)
{
  const SgctlTableInfo *owned = info->owned_table;

  if (!info->present || owned == NULL || !owned->present)
    return TRUE;
  return arrays_equal (info->gated, owned->gated) && arrays_equal (info->granted, owned->granted)
         && arrays_equal (info->always, owned->always) && arrays_equal (info->cut, owned->cut);
}
