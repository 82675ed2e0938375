/* Closing the gate: the deny-only table, no connection to a gated port left
 * from before, and, where the helper cannot keep the gate closed itself, its
 * exit, after which the unit's stop action (ExecStopPost=seatgate-helper
 * --reset) closes it. Every path that fails closed goes through here. */
#pragma once

#include <glib.h>

#include "nft-gate.h"
#include "sg-config.h"

G_BEGIN_DECLS

/* The table deny-only, as @config says, and every connection to a gated
 * port cut but the AlwaysAllow uids'. Fails only when the table could not
 * be set (connections that could not be cut are logged). */
gboolean sg_gate_reset (SgNftGate *gate, const SgConfig *config, GError **error);

/* Without a readable config the table cannot be rebuilt as configured, yet
 * the gate must be closed: an existing table keeps its deny and loses its
 * grants; where there is none (after a boot) the built-in ports get one.
 * Reports to stderr: the helper is on its way out. */
void sg_gate_close_without_config (void);

/* Destroys every established connection to a gated port whose socket uid is
 * not in the config's AlwaysAllow (for start and --reset: no grant survives a
 * restart, nor do its connections). */
gboolean sg_gate_cut_all_connections (const SgConfig *config, guint *n_destroyed, GError **error);

/* Whether @uid is in @always (AlwaysAllow's guint32 uids). */
gboolean sg_gate_always_allowed (const GArray *always, guint32 uid);

/* The helper cannot keep the gate closed by itself any more (a kernel
 * element it cannot remove, a table it cannot restore, nf_tables
 * notifications it cannot read): logs why and exits, so that the unit's
 * stop action resets the table and the restart begins deny-only. */
G_NORETURN void sg_helper_fail_closed (const char *format, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
