#include "sg-error.h"

#include <gio/gio.h>

static const GDBusErrorEntry sg_error_entries[] = {
  { SG_ERROR_FAILED, "io.github.seatgate.Error.Failed" },
  { SG_ERROR_NOT_SEAT_OWNER, "io.github.seatgate.Error.NotSeatOwner" },
  { SG_ERROR_NOT_AUTHORIZED, "io.github.seatgate.Error.NotAuthorized" },
  { SG_ERROR_INVALID_CONFIG, "io.github.seatgate.Error.InvalidConfig" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (sg_error_entries) == SG_ERROR_N_CODES);

GQuark
sg_error_quark (void)
{
  static gsize quark = 0;

  /* Registering makes errors crossing the bus keep their domain and code on
   * both sides: the helper returns SG_ERROR, the agent receives SG_ERROR. */
  g_dbus_error_register_error_domain ("sg-error-quark", &quark, sg_error_entries,
                                      G_N_ELEMENTS (sg_error_entries));
  return (GQuark) quark;
}

const char *
sg_error_dbus_name (SgError code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (sg_error_entries); i++)
    if (sg_error_entries[i].error_code == (gint) code)
      return sg_error_entries[i].dbus_error_name;
  return NULL;
}
