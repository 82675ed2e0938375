/* Port lists: "5930;5931-5935" <-> a sorted array of unique ports. */
#pragma once

#include <glib.h>

#include "sg-arrays.h" /* sg_array_ports (): a GArray of ports as the guint16 * taken here */

G_BEGIN_DECLS

/* The most ports one seat may gate: a grant is one kernel element per port. */
#define SG_PORTS_MAX_PER_SEAT 1024

/* Parses @value (items separated by ';' or ',', each "N" or "N-M") and adds
 * the ports to @ports (a GArray of guint16), keeping it sorted. Fails with
 * SG_ERROR_INVALID_CONFIG and a message for a person on a bad item, a port
 * outside 1-65535, a reversed range, a port listed twice, an empty list or
 * more than SG_PORTS_MAX_PER_SEAT ports. */
gboolean sg_ports_parse (const char *value, GArray *ports, GError **error);

/* "5930, 5931-5935": compact, for logs and messages. */
char *sg_ports_to_string (const guint16 *ports, gsize n_ports);

/* Sorts a GArray of guint16 ascending. */
void sg_ports_sort (GArray *ports);

/* TRUE if @port is in the sorted array. */
gboolean sg_ports_contains (const guint16 *ports, gsize n_ports, guint16 port);

G_END_DECLS
