#include "sg-wire.h"

#include "sg-arrays.h"

GVariant *
sg_wire_ports (const GArray *ports)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT16, sg_array_ports (ports), ports->len,
                                    sizeof (guint16));
}

GVariant *
sg_wire_seats (const SgConfig *config)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saq)"));
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      g_variant_builder_add (&builder, "(s@aq)", seat->name, sg_wire_ports (seat->ports));
    }
  return g_variant_builder_end (&builder);
}
