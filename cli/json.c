#include "json.h"

#include <stdio.h>

#include "sg-arrays.h"

struct _SgctlJson
{
  GString *out;
  GArray *first;      /* gboolean per open object/array: no member written yet */
  gboolean after_key; /* the next value follows a key: no comma */
};

SgctlJson *
sgctl_json_new (void)
{
  SgctlJson *json = g_new0 (SgctlJson, 1);

  json->out = g_string_new (NULL);
  json->first = g_array_new (FALSE, FALSE, sizeof (gboolean));
  return json;
}

void
sgctl_json_free (SgctlJson *json)
{
  if (json == NULL)
    return;
  g_string_free (json->out, TRUE);
  g_array_unref (json->first);
  g_free (json);
}

/* Writes the comma that separates this value from the one before. */
static void
before_value (SgctlJson *json)
{
  if (json->after_key)
    {
      json->after_key = FALSE;
      return;
    }
  if (json->first->len == 0)
    return;
  gboolean *first = &g_array_index (json->first, gboolean, json->first->len - 1);
  if (!*first)
    g_string_append_c (json->out, ',');
  *first = FALSE;
}

static void
push (SgctlJson *json, char c)
{
  gboolean first = TRUE;

  before_value (json);
  g_string_append_c (json->out, c);
  g_array_append_val (json->first, first);
}

static void
pop (SgctlJson *json, char c)
{
  g_return_if_fail (json->first->len > 0);
  g_array_set_size (json->first, json->first->len - 1);
  g_string_append_c (json->out, c);
}

void
sgctl_json_begin_object (SgctlJson *json)
{
  push (json, '{');
}

void
sgctl_json_end_object (SgctlJson *json)
{
  pop (json, '}');
}

void
sgctl_json_begin_array (SgctlJson *json)
{
  push (json, '[');
}

void
sgctl_json_end_array (SgctlJson *json)
{
  pop (json, ']');
}

static void
append_escaped (GString *out, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);

  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      unsigned char c = (unsigned char) *p;
      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

void
sgctl_json_key (SgctlJson *json, const char *key)
{
  before_value (json);
  append_escaped (json->out, key);
  g_string_append_c (json->out, ':');
  json->after_key = TRUE;
}

void
sgctl_json_string (SgctlJson *json, const char *value)
{
  if (value == NULL)
    {
      sgctl_json_null (json);
      return;
    }
  before_value (json);
  append_escaped (json->out, value);
}

void
sgctl_json_int (SgctlJson *json, gint64 value)
{
  before_value (json);
  g_string_append_printf (json->out, "%" G_GINT64_FORMAT, value);
}

void
sgctl_json_bool (SgctlJson *json, gboolean value)
{
  before_value (json);
  g_string_append (json->out, value ? "true" : "false");
}

void
sgctl_json_null (SgctlJson *json)
{
  before_value (json);
  g_string_append (json->out, "null");
}

void
sgctl_json_member_string (SgctlJson *json, const char *key, const char *value)
{
  sgctl_json_key (json, key);
  sgctl_json_string (json, value);
}

void
sgctl_json_member_int (SgctlJson *json, const char *key, gint64 value)
{
  sgctl_json_key (json, key);
  sgctl_json_int (json, value);
}

void
sgctl_json_member_bool (SgctlJson *json, const char *key, gboolean value)
{
  sgctl_json_key (json, key);
  sgctl_json_bool (json, value);
}

void
sgctl_json_ports (SgctlJson *json, GVariant *ports)
{
  gsize n = 0;
  const guint16 *data = g_variant_get_fixed_array (ports, &n, sizeof (guint16));

  sgctl_json_begin_array (json);
  for (gsize i = 0; i < n; i++)
    sgctl_json_int (json, data[i]);
  sgctl_json_end_array (json);
}

void
sgctl_json_port_array (SgctlJson *json, const GArray *ports)
{
  const guint16 *data = sg_array_ports (ports);

  sgctl_json_begin_array (json);
  for (guint i = 0; i < ports->len; i++)
    sgctl_json_int (json, data[i]);
  sgctl_json_end_array (json);
}

void
sgctl_json_uid_array (SgctlJson *json, const GArray *uids)
{
  const guint32 *data = sg_array_uids (uids);

  sgctl_json_begin_array (json);
  for (guint i = 0; i < uids->len; i++)
    sgctl_json_int (json, data[i]);
  sgctl_json_end_array (json);
}

void
sgctl_json_print (SgctlJson *json)
{
  g_return_if_fail (json->first->len == 0);
  fwrite (json->out->str, 1, json->out->len, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}
