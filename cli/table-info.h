/* Reads the table "inet seatgate" from the kernel over netlink (no nft
 * binary): is it there, whose is it, what do its sets hold. Read only; the
 * helper's helper/nft-gate.c is the one writer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint32 uid;
  guint16 port;
} SgctlUidPort;

typedef struct
{
  gboolean present;
  guint32 flags;       /* NFT_TABLE_F_* */
  gboolean owned;      /* NFT_TABLE_F_OWNER: only its owner may change it */
  gboolean persistent; /* NFT_TABLE_F_PERSIST: outlives its owner (Linux >= 6.9) */
  guint32 owner;       /* the owner's netlink port id, 0 if none */
  GArray *gated;       /* guint16: set "gated" */
  GArray *granted;     /* SgctlUidPort: set "granted" */
  GArray *always;      /* guint32: set "always" */
  GArray *cut;         /* SgctlUidPort: set "cut" */
} SgctlTableInfo;

/* Fails with G_IO_ERROR_PERMISSION_DENIED without CAP_NET_ADMIN. A missing
 * table is not an error: present is FALSE. */
SgctlTableInfo *sgctl_table_info_read (GError **error);

void sgctl_table_info_free (SgctlTableInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlTableInfo, sgctl_table_info_free)

G_END_DECLS
