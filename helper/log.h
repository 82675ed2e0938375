/* Structured log records for grants, refusals and revokes, so an admin can
 * find them in the journal by field (journalctl SEATGATE_EVENT=revoke). */
#pragma once

#include <glib.h>

#include "sg-names.h"

G_BEGIN_DECLS

/* Logs @format with the journal fields SEATGATE_EVENT, SEATGATE_UID,
 * SEATGATE_SEAT, SEATGATE_SESSION and SEATGATE_REASON (each left out when
 * NULL, or SG_NO_UID for @uid). */
void sg_log_event (GLogLevelFlags level, const char *event, guint32 uid, const char *seat,
                   const char *session, const char *reason, const char *format, ...)
    G_GNUC_PRINTF (7, 8);

/* Like sg_log_event for refusals, but at most @burst records per second per
 * event name; the number dropped is logged with the next record let through,
 * so a flood of refused callers cannot flood the journal. */
void sg_log_refusal (const char *event, guint32 uid, const char *seat, const char *session,
                     const char *reason, const char *format, ...) G_GNUC_PRINTF (6, 7);

/* A debug record (SEATGATE_EVENT=nft-batch) with the wall time of the
 * netlink batch that changed the kernel for @op ("grant", "revoke") of @uid,
 * in SEATGATE_NFT_BATCH_NS, for benchmarks. Costs nothing unless debug
 * messages are enabled (--verbose); callers log it after the caller's answer. */
void sg_log_batch_time (const char *op, guint32 uid, const char *seat, guint n_batches,
                        guint64 batch_ns);

G_END_DECLS
