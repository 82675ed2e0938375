#include "grant-registry.h"

#include <string.h>

struct _SgGrantRegistry
{
  GHashTable *grants; /* seat -> SgGrant* */
};

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

void
sg_grant_set_ticket (SgGrant *grant, char *ticket)
{
  /* A ticket is a secret: it does not linger in freed memory. */
  if (grant->ticket != NULL)
    explicit_bzero (grant->ticket, strlen (grant->ticket));
  g_free (grant->ticket);
  grant->ticket = ticket;
}

void
sg_grant_free (SgGrant *grant)
{
  if (grant == NULL)
    return;
  sg_grant_set_ticket (grant, NULL);
  g_free (grant->seat);
  g_free (grant->session_id);
  g_free (grant->session_path);
  g_ptr_array_unref (grant->holders);
  g_free (grant);
}

SgGrantRegistry *
sg_grant_registry_new (void)
{
  SgGrantRegistry *registry = g_new0 (SgGrantRegistry, 1);

  registry->grants
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) sg_grant_free);
  return registry;
}

void
sg_grant_registry_free (SgGrantRegistry *registry)
{
  if (registry == NULL)
    return;
  g_hash_table_unref (registry->grants);
  g_free (registry);
}

SgGrant *
sg_grant_registry_lookup (SgGrantRegistry *registry, const char *seat)
{
  return g_hash_table_lookup (registry->grants, seat);
}

gboolean
sg_grant_registry_hold (SgGrantRegistry *registry, const char *seat, guint32 uid,
                        const char *session_id, const char *session_path, const char *holder)
{
  SgGrant *grant = g_hash_table_lookup (registry->grants, seat);
  gboolean is_new = grant == NULL;

  if (is_new)
    {
      grant = g_new0 (SgGrant, 1);
      grant->seat = g_strdup (seat);
      grant->uid = uid;
      grant->session_id = g_strdup (session_id);
      grant->session_path = g_strdup (session_path);
      grant->holders = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (registry->grants, grant->seat, grant);
    }
  g_return_val_if_fail (grant->uid == uid && g_str_equal (grant->session_id, session_id), FALSE);
  if (!g_ptr_array_find_with_equal_func (grant->holders, holder, g_str_equal, NULL))
    g_ptr_array_add (grant->holders, g_strdup (holder));
  return is_new;
}

GPtrArray *
sg_grant_registry_drop_holder (SgGrantRegistry *registry, const char *holder)
{
  GPtrArray *orphaned = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  SgGrant *grant;
  guint index;

  g_hash_table_iter_init (&iter, registry->grants);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &grant))
    if (g_ptr_array_find_with_equal_func (grant->holders, holder, g_str_equal, &index))
      {
        g_ptr_array_remove_index (grant->holders, index);
        if (grant->holders->len == 0)
          g_ptr_array_add (orphaned, g_strdup (grant->seat));
      }
  g_ptr_array_sort (orphaned, compare_names);
  return orphaned;
}

SgGrant *
sg_grant_registry_take (SgGrantRegistry *registry, const char *seat)
{
  gpointer grant = NULL;

  if (!g_hash_table_steal_extended (registry->grants, seat, NULL, &grant))
    return NULL;
  return grant;
}

static GPtrArray *
seats_where (SgGrantRegistry *registry, gboolean (*match) (SgGrant *, gconstpointer),
             gconstpointer data)
{
  GPtrArray *seats = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  SgGrant *grant;

  g_hash_table_iter_init (&iter, registry->grants);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &grant))
    if (match == NULL || match (grant, data))
      g_ptr_array_add (seats, g_strdup (grant->seat));
  g_ptr_array_sort (seats, compare_names);
  return seats;
}

static gboolean
has_session (SgGrant *grant, gconstpointer path)
{
  return g_str_equal (grant->session_path, path);
}

static gboolean
has_uid (SgGrant *grant, gconstpointer uid)
{
  return grant->uid == *(const guint32 *) uid;
}

GPtrArray *
sg_grant_registry_seats_of_session (SgGrantRegistry *registry, const char *session_path)
{
  return seats_where (registry, has_session, session_path);
}

GPtrArray *
sg_grant_registry_seats_of_uid (SgGrantRegistry *registry, guint32 uid)
{
  return seats_where (registry, has_uid, &uid);
}

static gboolean
has_holder (SgGrant *grant, gconstpointer holder)
{
  return g_ptr_array_find_with_equal_func (grant->holders, holder, g_str_equal, NULL);
}

GPtrArray *
sg_grant_registry_seats_of_holder (SgGrantRegistry *registry, const char *holder)
{
  return seats_where (registry, has_holder, holder);
}

GPtrArray *
sg_grant_registry_seats (SgGrantRegistry *registry)
{
  return seats_where (registry, NULL, NULL);
}
