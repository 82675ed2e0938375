/* Watches nf_tables change notifications (NFNLGRP_NFTABLES) for changes to
 * seatgate's tables (inet seatgate, and inet seatgate_owned of kernels
 * 5.12-6.8) made by anyone but the helper itself: `nft flush ruleset`, `nft
 * delete table`, a firewall manager's reload. Where the kernel cannot protect
 * a table (the plain table, and the backstop beside the owned one: see
 * nft-gate.h), this is how the helper learns it must restore it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SgTableWatch SgTableWatch;

/* @what says what happened, e.g. "inet seatgate: table deleted by nft (pid
 * 1234)"; NULL
 * when notifications were lost (the socket overflowed), so the table's state
 * is unknown. */
typedef void (*SgTableTamperedFunc) (const char *what, gpointer user_data);

/* Ignores changes sent from netlink port @own_portid (the gate's socket). */
SgTableWatch *sg_table_watch_new (guint32 own_portid, SgTableTamperedFunc tampered,
                                  gpointer user_data, GError **error);
void sg_table_watch_free (SgTableWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgTableWatch, sg_table_watch_free)

G_END_DECLS
