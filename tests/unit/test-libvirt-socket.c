/* The socket files the libvirt binding watches for a URI: where libvirt's
 * client would connect (helper/vm-libvirt-socket.c cites its functions). */
#include "vm-libvirt-socket.h"

static void
check (const char *uri, const char *folder, const char *names)
{
  g_autofree char *got_folder = NULL;
  g_auto (GStrv) got_names = NULL;
  gboolean local = sg_vm_libvirt_socket_files (uri, &got_folder, &got_names);

  if (folder == NULL)
    {
      g_assert_false (local);
      g_assert_null (got_folder);
      g_assert_null (got_names);
      return;
    }
  g_assert_true (local);
  g_assert_cmpstr (got_folder, ==, folder);
  g_autofree char *joined = g_strjoinv (" ", got_names);
  g_assert_cmpstr (joined, ==, names);
}

static void
test_local_system (void)
{
  check ("qemu:///system", "/var/run/libvirt", "virtqemud-sock libvirt-sock");
  check ("qemu+unix:///system", "/var/run/libvirt", "virtqemud-sock libvirt-sock");
  /* root's /session is the system daemon's socket (remoteGetURIDaemonInfo) */
  check ("qemu:///session", "/var/run/libvirt", "virtqemud-sock libvirt-sock");
  check ("lxc:///system", "/var/run/libvirt", "virtlxcd-sock libvirt-sock");
}

static void
test_socket_parameter (void)
{
  check ("qemu+unix:///system?socket=/tmp/lab/sock/libvirt-sock", "/tmp/lab/sock", "libvirt-sock");
  check ("qemu:///system?mode=legacy&socket=/run/x/y-sock", "/run/x", "y-sock");
  check ("qemu:///system?socket=relative/sock", NULL, NULL);
}

static void
test_not_local (void)
{
  check ("qemu+ssh://admin@vmhost/system", NULL, NULL);
  check ("qemu+tls://vmhost/system", NULL, NULL);
  check ("qemu+tcp://vmhost/system", NULL, NULL);
  check ("qemu://vmhost/system", NULL, NULL);
  check ("qemu+ext:///system?command=/bin/true", NULL, NULL);
  check ("not a uri", NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libvirt-socket/local-system", test_local_system);
  g_test_add_func ("/libvirt-socket/socket-parameter", test_socket_parameter);
  g_test_add_func ("/libvirt-socket/not-local", test_not_local);
  return g_test_run ();
}
