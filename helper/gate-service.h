/* The helper's D-Bus face: io.github.seatgate.Gate1 at /io/github/seatgate/Gate1.
 * It decides grants (logind + polkit), keeps the registry and the kernel's
 * table in step, and ends grants when their reason goes. */
#pragma once

#include <gio/gio.h>

#include "sg-names.h"
#include "nft-gate.h"
#include "sg-config.h"

G_BEGIN_DECLS

typedef struct _SgGateService SgGateService;

typedef void (*SgGateReadyFunc) (gpointer user_data);

/* Exports the object on @bus and starts following logind. @config and @gate
 * must outlive the service. @ready is called once, when logind's state is
 * known (or known to be absent): then the bus name may be taken. */
SgGateService *sg_gate_service_new (GDBusConnection *bus, const SgConfig *config, SgNftGate *gate,
                                    SgGateReadyFunc ready, gpointer ready_data, GError **error);

/* Rebuilds the table with the current grants after someone else changed it
 * (@what says how), and closes connections that are not granted. */
void sg_gate_service_restore_table (SgGateService *service, const char *what);

/* Ends every grant with reason "shutdown", then locks every seat's VM and
 * waits (a few seconds at most) until each has answered. Nothing is granted
 * after it. */
void sg_gate_service_shutdown (SgGateService *service);

void sg_gate_service_free (SgGateService *service);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgGateService, sg_gate_service_free)

G_END_DECLS
