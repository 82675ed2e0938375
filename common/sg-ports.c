#include "sg-ports.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sg-arrays.h"
#include "sg-error.h"

static gint
compare_port (gconstpointer a, gconstpointer b)
{
  return (gint) * (const guint16 *) a - (gint) * (const guint16 *) b;
}

/* Strict decimal: no sign, no spaces inside, no hex, no trailing junk. */
static gboolean
parse_port (const char *text, const char *item, guint16 *port, GError **error)
{
  gsize len = strlen (text);

  if (len == 0 || len > 5 || strspn (text, "0123456789") != len)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "'%s' is not a port: write a number from 1 to 65535, or a range like 5931-5935",
                   item);
      return FALSE;
    }
  gulong value = strtoul (text, NULL, 10);
  if (value < 1 || value > 65535)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                   "port %lu is out of range: ports go from 1 to 65535", value);
      return FALSE;
    }
  *port = (guint16) value;
  return TRUE;
}

gboolean
sg_ports_parse (const char *value, GArray *ports, GError **error)
{
  g_auto (GStrv) items = g_strsplit_set (value, ";,", -1);
  guint n_items = 0;

  for (char **p = items; *p != NULL; p++)
    {
      g_autofree char *item = g_strstrip (g_strdup (*p));
      guint16 first, last;

      if (*item == '\0')
        continue;
      n_items++;

      const char *dash = strchr (item, '-');
      if (dash != NULL)
        {
          g_autofree char *low = g_strstrip (g_strndup (item, (gsize) (dash - item)));
          g_autofree char *high = g_strstrip (g_strdup (dash + 1));
          if (!parse_port (low, item, &first, error) || !parse_port (high, item, &last, error))
            return FALSE;
          if (first > last)
            {
              g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                           "range '%s' is reversed: write the lower port first (%u-%u)", item, last,
                           first);
              return FALSE;
            }
        }
      else
        {
          if (!parse_port (item, item, &first, error))
            return FALSE;
          last = first;
        }

      if (ports->len + (gsize) (last - first) + 1 > SG_PORTS_MAX_PER_SEAT)
        {
          g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                       "too many ports: a seat may gate at most %u ports", SG_PORTS_MAX_PER_SEAT);
          return FALSE;
        }
      /* Check the whole item against the ports before it, which are sorted. */
      for (guint port = first; port <= last; port++)
        if (sg_ports_contains (sg_array_ports (ports), ports->len, (guint16) port))
          {
            g_set_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                         "port %u is listed twice: list each port once", port);
            return FALSE;
          }
      for (guint port = first; port <= last; port++)
        {
          guint16 p16 = (guint16) port;
          g_array_append_val (ports, p16);
        }
      sg_ports_sort (ports);
    }

  if (n_items == 0)
    {
      g_set_error_literal (error, SG_ERROR, SG_ERROR_INVALID_CONFIG,
                           "no ports given: write at least one port, e.g. Ports=5930");
      return FALSE;
    }
  return TRUE;
}

void
sg_ports_sort (GArray *ports)
{
  g_array_sort (ports, compare_port);
}

gboolean
sg_ports_contains (const guint16 *ports, gsize n_ports, guint16 port)
{
  gsize lo = 0, hi = n_ports;

  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;
      if (ports[mid] == port)
        return TRUE;
      if (ports[mid] < port)
        lo = mid + 1;
      else
        hi = mid;
    }
  return FALSE;
}

char *
sg_ports_to_string (const guint16 *ports, gsize n_ports)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (gsize i = 0; i < n_ports;)
    {
      gsize j = i;
      while (j + 1 < n_ports && ports[j + 1] == ports[j] + 1)
        j++;
      if (out->len > 0)
        g_string_append (out, ", ");
      if (j == i)
        g_string_append_printf (out, "%u", ports[i]);
      else
        g_string_append_printf (out, "%u-%u", ports[i], ports[j]);
      i = j + 1;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
