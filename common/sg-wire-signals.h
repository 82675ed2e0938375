/* The helper's signals as a listener takes them (Gate1.xml), checked in
 * one place: a signal of another type than the interface's comes only from
 * a forger or a broken helper, and must change nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Revoked (s seat, u uid, s reason): TRUE with the three set (pointing into
 * @params); FALSE, with nothing set, for parameters of another type. */
gboolean sg_wire_revoked_parse (GVariant *params, const char **seat, guint32 *uid,
                                const char **reason);

G_END_DECLS
