/* The nftables table "inet seatgate": the deny, and the grants as set elements.
 *
 * One netlink socket is kept open for the gate's life: a writer that closes its
 * socket after deleting elements pays an RCU grace period (~16 ms) at close,
 * and an owned table is bound to the socket that created it.
 *
 * The table gates new locally originated TCP connections (the SYN) to a gated
 * port whose destination is a local address: they are rejected with a TCP
 * reset unless (socket uid, port) is in the "granted" set or the uid is in the
 * "always" set. Only the SYN is gated, so TIME_WAIT and orphaned sockets' ACKs
 * and RSTs (which carry no socket uid) flow. Packets to a gated port that
 * arrive from outside the host are dropped. The "cut" set rejects every
 * packet from (uid, port) pairs whose established connections could not be
 * destroyed; its rule is in the chain only from the first cut to the next
 * reset, so that TCP packets do not pay for it while the set is empty. */
#pragma once

#include <glib.h>

#include "sg-config.h"

G_BEGIN_DECLS

typedef struct _SgNftGate SgNftGate;

/* Opens the netlink socket. Nothing is changed in the kernel yet. */
SgNftGate *sg_nft_gate_new (SgTableMode mode, GError **error);

/* Replaces the table, in one atomic batch, by a deny-only table gating
 * @ports (ascending) with @always_uids allowed: no grants, no cut elements.
 * With mode AUTO or PERSISTENT the table is owned by this gate's socket and
 * persistent (kernel >= 6.9), taking over an orphaned persistent table left by
 * an earlier helper; with AUTO on an older kernel it falls back to a plain table
 * and says so with g_warning. An existing table owned by another live process
 * fails with G_IO_ERROR_BUSY. */
gboolean sg_nft_gate_reset (SgNftGate *gate,
                            const guint16 *ports,
                            gsize n_ports,
                            const guint32 *always_uids,
                            gsize n_always,
                            GError **error);

/* Adds (uid, port) for each port, in one batch. Idempotent. Also removes
 * those pairs from the cut set. */
gboolean sg_nft_gate_grant (SgNftGate *gate,
                            guint32 uid,
                            const guint16 *ports,
                            gsize n_ports,
                            GError **error);

/* Removes (uid, port) for each port, in one batch. Pairs that are not in the
 * set are not an error. */
gboolean sg_nft_gate_revoke (SgNftGate *gate,
                             guint32 uid,
                             const guint16 *ports,
                             gsize n_ports,
                             GError **error);

/* Adds (uid, port) pairs to the cut set: every packet of theirs to those ports
 * is rejected (the fallback when their sockets cannot be destroyed). The first
 * cut after a reset adds the cut rule in the same batch. */
gboolean sg_nft_gate_cut (SgNftGate *gate,
                          guint32 uid,
                          const guint16 *ports,
                          gsize n_ports,
                          GError **error);

/* Empties the granted set of the table as it is, leaving the rest alone: for
 * when the config cannot be read, so no reset is possible, yet no grant may
 * survive. */
gboolean sg_nft_gate_flush_grants (SgNftGate *gate, GError **error);

/* What sg_nft_gate_reset() achieved. */
gboolean sg_nft_gate_is_owned (SgNftGate *gate);
gboolean sg_nft_gate_is_persistent (SgNftGate *gate);

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
