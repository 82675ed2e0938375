/* Typed views of the GArrays the config and the CLI pass around, so no
 * caller casts GArray.data: a port list is guint16, a uid list guint32. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

static inline const guint16 *
sg_array_ports (const GArray *ports)
{
  g_assert (g_array_get_element_size ((GArray *) ports) == sizeof (guint16));
  return (const guint16 *) (const void *) ports->data;
}

static inline const guint32 *
sg_array_uids (const GArray *uids)
{
  g_assert (g_array_get_element_size ((GArray *) uids) == sizeof (guint32));
  return (const guint32 *) (const void *) uids->data;
}

G_END_DECLS
