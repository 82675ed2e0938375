/* seatgate's one error domain, mapped to D-Bus error names. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SG_ERROR (sg_error_quark ())

typedef enum
{
  SG_ERROR_FAILED,         /* io.github.seatgate.Error.Failed */
  SG_ERROR_NOT_SEAT_OWNER, /* io.github.seatgate.Error.NotSeatOwner */
  SG_ERROR_NOT_AUTHORIZED, /* io.github.seatgate.Error.NotAuthorized */
  SG_ERROR_INVALID_CONFIG, /* io.github.seatgate.Error.InvalidConfig */
} SgError;

#define SG_ERROR_N_CODES (SG_ERROR_INVALID_CONFIG + 1)

GQuark sg_error_quark (void);

/* The D-Bus name of @code, e.g. "io.github.seatgate.Error.NotSeatOwner". */
const char *sg_error_dbus_name (SgError code);

G_END_DECLS
