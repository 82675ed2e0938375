/* seatgatectl: what every subcommand shares. One file per subcommand
 * (cmd-*.c); main.c only dispatches. */
#pragma once

#include <gio/gio.h>

#include "sg-names.h"
#include "sg-gate1-generated.h"

G_BEGIN_DECLS

#define SGCTL_BUS_NAME SG_BUS_NAME
#define SGCTL_OBJECT_PATH SG_OBJECT_PATH
#define SGCTL_ACTION_GRANT SG_ACTION_GRANT
#define SGCTL_ACTION_MANAGE SG_ACTION_MANAGE

/* Exit statuses, as documented in seatgatectl(1). */
typedef enum
{
  SGCTL_EXIT_OK = 0,
  SGCTL_EXIT_FAILURE = 1, /* failed, config invalid, doctor found a problem */
  SGCTL_EXIT_USAGE = 2,
  SGCTL_EXIT_NO_HELPER = 3,      /* seatgate-helper (or the system bus) not reachable */
  SGCTL_EXIT_NOT_SEAT_OWNER = 4, /* io.github.seatgate.Error.NotSeatOwner */
  SGCTL_EXIT_NOT_AUTHORIZED = 5, /* io.github.seatgate.Error.NotAuthorized */
} SgctlExit;

typedef int (*SgctlCommandFunc) (int argc, char **argv);

int sgctl_cmd_status (int argc, char **argv);
int sgctl_cmd_grant (int argc, char **argv);
int sgctl_cmd_release (int argc, char **argv);
int sgctl_cmd_revoke (int argc, char **argv);
int sgctl_cmd_monitor (int argc, char **argv);
int sgctl_cmd_check_config (int argc, char **argv);
int sgctl_cmd_doctor (int argc, char **argv);

/* An option context for "seatgatectl COMMAND", with @summary and the exit
 * statuses in its --help. */
GOptionContext *sgctl_option_context (const char *command, const char *parameters,
                                      const char *summary, const GOptionEntry *entries);

/* Parses; on a usage error prints it and returns FALSE (exit SGCTL_EXIT_USAGE). */
gboolean sgctl_parse_options (GOptionContext *context, int *argc, char ***argv);

/* The system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured, for tests). */
GDBusConnection *sgctl_system_bus (GError **error);

/* A proxy for the helper. Without @autostart, a helper that is not on the
 * bus is the error G_IO_ERROR_NOT_CONNECTED. */
SgGate1 *sgctl_gate_proxy (GDBusConnection *bus, gboolean autostart, GError **error);

/* Reads a property of the helper afresh (not the proxy's cache). */
GVariant *sgctl_gate_get_property (GDBusConnection *bus, const char *name, GError **error);

/* The exit status for an error from the bus or the helper. */
int sgctl_exit_for_error (const GError *error);

/* Prints "seatgatectl: MESSAGE" (the D-Bus prefix stripped) to stderr and
 * returns sgctl_exit_for_error(). */
int sgctl_fail (const char *what, GError *error);

/* The D-Bus error name behind @error ("io.github.seatgate.Error.NotSeatOwner"),
 * or NULL for a local error. Call before sgctl_fail() strips it. */
char *sgctl_error_dbus_name (const GError *error);

/* Prints {"ok": false, "error": NAME, "message": MESSAGE} for @error. */
void sgctl_json_error (const GError *error);

/* "alice", or "1000" for a uid without a name. */
char *sgctl_user_name (guint32 uid);

/* "alice (1000)", or "1000". */
char *sgctl_user_label (guint32 uid);

/* A uid from "1000" or "alice". */
gboolean sgctl_parse_user (const char *text, guint32 *uid, GError **error);

/* Ports of an "aq" as "5930, 5931-5935". */
char *sgctl_ports_string (GVariant *ports);

/* Local time for monitor lines: "2024-05-01 12:00:00". */
char *sgctl_time_now (gboolean iso8601);

G_END_DECLS
