/* Reads seatgate's nftables tables from the kernel over netlink (no nft
 * binary): are they there, whose are they, what do their sets hold. Read
 * only; the helper's helper/nft-gate.c is the one writer, and its header
 * describes the layouts: "inet seatgate" on every kernel (owned and
 * persistent on Linux >= 6.9, else plain), and on Linux 5.12-6.8 also
 * "inet seatgate_owned", owned by the helper while it lives, in front of the
 * plain "inet seatgate" (then the backstop). */
#pragma once

#include <glib.h>

#include "sg-names.h"

G_BEGIN_DECLS

typedef struct
{
  guint32 uid;
  guint16 port;
} SgctlUidPort;

typedef struct _SgctlTableInfo SgctlTableInfo;

/* What the tables found say about the helper's layout. */
typedef enum
{
  SGCTL_LAYOUT_MISSING,    /* no inet seatgate: the ports are open */
  SGCTL_LAYOUT_PERSISTENT, /* inet seatgate owned and persistent: the helper runs */
  SGCTL_LAYOUT_ORPHAN,     /* inet seatgate persistent, owner gone: the helper stopped */
  SGCTL_LAYOUT_BACKSTOP,   /* inet seatgate_owned (the helper's) + plain inet seatgate */
  SGCTL_LAYOUT_PLAIN,      /* plain inet seatgate alone: TableMode=plain, an old kernel, or the
                            * 5.12-6.8 layout after the helper stopped */
  SGCTL_LAYOUT_OWNED_ONLY, /* inet seatgate_owned without the backstop (just removed) */
} SgctlLayout;

struct _SgctlTableInfo
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
  /* inet seatgate_owned, read the same way (present FALSE where there is
   * none); NULL inside itself. */
  SgctlTableInfo *owned_table;
};

/* The table the helper enforces with while it runs: the owned one where it
 * is, else inet seatgate. Its sets are the live ones. */
const SgctlTableInfo *sgctl_table_info_enforcing (const SgctlTableInfo *info);

SgctlLayout sgctl_table_info_layout (const SgctlTableInfo *info);

/* "persistent", "orphan", "owned+backstop", "plain", "owned-only", "missing"
 * (for --json). */
const char *sgctl_layout_to_string (SgctlLayout layout);

/* For seatgatectl status, e.g. "inet seatgate_owned, owned by the helper,
 * with the plain backstop inet seatgate". */
char *sgctl_table_info_describe (const SgctlTableInfo *info);

/* Both tables present, and their gated, granted, always and cut sets hold
 * the same elements (as the helper keeps them). TRUE when only one table is
 * there. */
gboolean sgctl_table_info_tables_agree (const SgctlTableInfo *info);

/* Fails with G_IO_ERROR_PERMISSION_DENIED without CAP_NET_ADMIN. A missing
 * table is not an error: present is FALSE. Reads inet seatgate and inet
 * seatgate_owned. */
SgctlTableInfo *sgctl_table_info_read (GError **error);

void sgctl_table_info_free (SgctlTableInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlTableInfo, sgctl_table_info_free)

G_END_DECLS
