/* seatgate's nftables tables: the deny, and the grants as set elements.
 *
 * One netlink socket is kept open for the gate's life: a writer that closes its
 * socket after deleting elements pays an RCU grace period (~16 ms) at close,
 * and an owned table is bound to the socket that created it.
 *
 * A gate table gates new locally originated TCP connections (the SYN) to a
 * gated port whose destination is a local address: they are rejected with a
 * TCP reset unless (socket uid, port) is in the "granted" set or the uid is in
 * the "always" set. Only the SYN is gated, so TIME_WAIT and orphaned sockets'
 * ACKs and RSTs (which carry no socket uid) flow. Packets to a gated port that
 * arrive from outside the host are dropped. The "cut" set rejects every
 * packet from (uid, port) pairs whose established connections could not be
 * destroyed; its rule is in the chain only from the first cut to the next
 * reset, so that TCP packets do not pay for it while the set is empty.
 *
 * Which tables, by what the kernel can do (SgNftLayout):
 *   Linux >= 6.9 (NFT_TABLE_F_OWNER and NFT_TABLE_F_PERSIST): one table,
 *     "inet seatgate", owned by the helper's socket and persistent: nobody
 *     else may change or delete it, `nft flush ruleset` skips it, and when
 *     the helper goes it stays, orphaned and still denying, for the next
 *     helper to take over.
 *   Linux 5.12 to 6.8 (OWNER, no PERSIST): two tables with the same sets,
 *     rules and elements, and a packet must pass both.
 *     "inet seatgate_owned" (SG_TABLE_OWNED) is owned by the helper's socket:
 *     nobody else can change it and `nft flush ruleset` skips it, so it
 *     enforces without a gap while the helper lives; the kernel destroys it
 *     when the helper's socket closes. "inet seatgate" is a plain table, the
 *     backstop: it keeps the deny when the helper is gone. Anyone root may
 *     remove it while the helper lives (the owned table still denies); the
 *     helper's table watch then puts it back.
 *   Before 5.12, or TableMode=plain: one plain table "inet seatgate", which
 *     the table watch restores when it is changed, with a gap of milliseconds.
 * So "inet seatgate" is seatgate's table on every kernel: it exists from the
 * first reset on, holds the deny and the grants, and outlives the helper. */
#pragma once

#include <glib.h>

#include "sg-config.h"
#include "sg-names.h"

G_BEGIN_DECLS

typedef struct _SgNftGate SgNftGate;

typedef enum
{
  SG_NFT_LAYOUT_NONE,       /* no reset has succeeded yet */
  SG_NFT_LAYOUT_PERSISTENT, /* inet seatgate, owned and persistent */
  SG_NFT_LAYOUT_BACKSTOP,   /* inet seatgate_owned, owned; inet seatgate, plain */
  SG_NFT_LAYOUT_PLAIN,      /* inet seatgate, plain */
} SgNftLayout;

/* The kernel's nf_tables features the gate relies on. */
typedef enum
{
  SG_NFT_KERNEL_TABLE_OWNER = 1 << 0,     /* NFT_TABLE_F_OWNER, Linux >= 5.12 */
  SG_NFT_KERNEL_TABLE_PERSIST = 1 << 1,   /* NFT_TABLE_F_PERSIST, Linux >= 6.9 */
  SG_NFT_KERNEL_DESTROY_SETELEM = 1 << 2, /* NFT_MSG_DESTROYSETELEM, Linux >= 6.3 */
  SG_NFT_KERNEL_ALL = (1 << 3) - 1,
} SgNftKernelFeatures;

/* Opens the netlink socket. Nothing is changed in the kernel yet. */
SgNftGate *sg_nft_gate_new (SgTableMode mode, GError **error);

/* Makes the gate behave as on a kernel that has only @features: it uses no
 * other, and chooses its layout as it would there (TableMode=auto on a 6.1
 * kernel: SG_NFT_KERNEL_TABLE_OWNER alone). By default it uses every feature
 * and learns from the kernel's refusals which it lacks. For tests and
 * benchmarks, which thus run the older kernels' layouts for real on a new
 * one; call it before the first reset. */
void sg_nft_gate_limit_kernel (SgNftGate *gate, SgNftKernelFeatures features);

/* Replaces the gate's tables, in one atomic batch, by deny-only tables gating
 * @ports (ascending) with @always_uids allowed: no grants, no cut elements.
 * The layout (see the top) follows the mode and the kernel: PERSISTENT wants
 * Linux >= 6.9, BACKSTOP (the owned table and its backstop, on any kernel
 * that has the owner flag) Linux >= 5.12, each failing with
 * G_IO_ERROR_NOT_SUPPORTED without; AUTO takes the best this kernel offers,
 * learning it from the kernel's refusals. It
 * takes over an orphaned persistent table and the backstop left by an earlier
 * helper, and removes whatever of the other layouts' tables is left. The
 * first reset, and any that changes the layout, logs one line saying which
 * layout and why (g_message; g_warning for a plain table the mode did not ask
 * for). A table owned by another live process fails with G_IO_ERROR_BUSY. */
gboolean sg_nft_gate_reset (SgNftGate *gate, const guint16 *ports, gsize n_ports,
                            const guint32 *always_uids, gsize n_always, GError **error);

/* Grants, revokes and cuts change every table of the layout in one batch. */

/* Adds (uid, port) for each port, in one batch. Idempotent. Also removes
 * those pairs from the cut set. */
gboolean sg_nft_gate_grant (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports,
                            GError **error);

/* Removes (uid, port) for each port, in one batch. Pairs that are not in the
 * set are not an error. */
gboolean sg_nft_gate_revoke (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports,
                             GError **error);

/* Adds (uid, port) pairs to the cut set: every packet of theirs to those ports
 * is rejected (the fallback when their sockets cannot be destroyed). The first
 * cut after a reset adds the cut rule in the same batch. */
gboolean sg_nft_gate_cut (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports,
                          GError **error);

/* Empties the granted set of the table as it is, leaving the rest alone: for
 * when the config cannot be read, so no reset is possible, yet no grant may
 * survive. Before a reset (a new gate) that is inet seatgate, which holds the
 * deny on every layout; an owned table left is a live helper's (busy). */
gboolean sg_nft_gate_flush_grants (SgNftGate *gate, GError **error);

/* What sg_nft_gate_reset() achieved. Owned: the enforcing table is this
 * gate's (PERSISTENT or BACKSTOP); persistent: it outlives the gate
 * (PERSISTENT; in BACKSTOP the plain backstop does). */
gboolean sg_nft_gate_is_owned (SgNftGate *gate);
gboolean sg_nft_gate_is_persistent (SgNftGate *gate);
SgNftLayout sg_nft_gate_get_layout (SgNftGate *gate);

/* The layout in words, with why it was chosen, e.g. for the helper's log
 * ("owned table inet seatgate_owned + plain backstop inet seatgate: this
 * kernel refused NFT_TABLE_F_PERSIST (Linux >= 6.9)"). NULL before a reset. */
const char *sg_nft_gate_describe_layout (SgNftGate *gate);

/* The netlink port id the gate's changes come from (nf_tables notifications
 * carry it, so the gate's own changes can be told from others'). */
guint32 sg_nft_gate_get_portid (SgNftGate *gate);

/* Wall time of the last batch's kernel round trip, in nanoseconds (for
 * benchmarks): from sendmsg() of the built batch to its last answer read, by
 * when the kernel has committed or refused it. */
guint64 sg_nft_gate_last_batch_ns (SgNftGate *gate);

void sg_nft_gate_free (SgNftGate *gate);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftGate, sg_nft_gate_free)

G_END_DECLS
