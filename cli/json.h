/* A small JSON writer for seatgatectl's --json output: compact, valid UTF-8,
 * one document per line. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SgctlJson SgctlJson;

SgctlJson *sgctl_json_new (void);
void sgctl_json_free (SgctlJson *json);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlJson, sgctl_json_free)

void sgctl_json_begin_object (SgctlJson *json);
void sgctl_json_end_object (SgctlJson *json);
void sgctl_json_begin_array (SgctlJson *json);
void sgctl_json_end_array (SgctlJson *json);

/* The key of the next value, inside an object. */
void sgctl_json_key (SgctlJson *json, const char *key);

/* NULL writes null. */
void sgctl_json_string (SgctlJson *json, const char *value);
void sgctl_json_int (SgctlJson *json, gint64 value);
void sgctl_json_bool (SgctlJson *json, gboolean value);
void sgctl_json_null (SgctlJson *json);

/* Shorthands for "key": value. */
void sgctl_json_member_string (SgctlJson *json, const char *key, const char *value);
void sgctl_json_member_int (SgctlJson *json, const char *key, gint64 value);
void sgctl_json_member_bool (SgctlJson *json, const char *key, gboolean value);

/* An "aq" of ports as an array of numbers. */
void sgctl_json_ports (SgctlJson *json, GVariant *ports);

/* A GArray of ports (guint16) or of uids (guint32) as an array of numbers. */
void sgctl_json_port_array (SgctlJson *json, const GArray *ports);
void sgctl_json_uid_array (SgctlJson *json, const GArray *uids);

/* Prints the document and a newline to stdout, and flushes. */
void sgctl_json_print (SgctlJson *json);

G_END_DECLS
