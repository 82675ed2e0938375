/* The /init of tests/e2e's tiny guest (test_guest_lock.py): it prints every
 * key the guest's keyboard receives to the serial console, one line each
 * ("sg-guest: key 125 down"), so a test can see what QEMU's send-key
 * delivered to a real kernel.
 *
 * Debian's kernel builds i8042, atkbd and the VT in but evdev as a module,
 * and this initramfs has no modules: the keys are read from the VT (tty1)
 * in medium-raw mode, which gives the kernel's keycodes. Built static
 * (glibc's libc.a) so the initramfs needs nothing else. Any failure is
 * printed and powers the guest off, so the test sees QEMU exit rather than
 * wait on a guest that cannot read keys. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kd.h>
#include <linux/netlink.h>
#include <linux/vt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define PREFIX "sg-guest: "

static int out = -1;

static void
say (const char *format, ...)
{
  char line[512];
  va_list ap;
  int n;

  va_start (ap, format);
  n = vsnprintf (line, sizeof line - 1, format, ap);
  va_end (ap);
  if (n < 0)
    return;
  if ((size_t) n > sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  /* One write per line: the kernel's own messages may share the port. */
  if (write (out >= 0 ? out : STDERR_FILENO, line, (size_t) n) < 0)
    return;
}

static void __attribute__ ((noreturn)) fail (const char *what)
{
  say (PREFIX "error: %s: %s", what, strerror (errno));
  sync ();
  reboot (RB_POWER_OFF);
  for (;;)
    pause ();
}

static void
mount_or_fail (const char *source, const char *target, const char *type)
{
  if (mkdir (target, 0755) < 0 && errno != EEXIST)
    fail (target);
  if (mount (source, target, type, MS_NOSUID, NULL) < 0 && errno != EBUSY)
    fail (target);
}

/* The name of a keyboard that the VT's keyboard handler ("kbd") is bound
 * to, from /proc/bus/input/devices, or 0 if there is none yet. */
static int
find_keyboard (char *name, size_t size)
{
  char text[16384];
  char current[128] = "";
  ssize_t n;
  int fd = open ("/proc/bus/input/devices", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    fail ("/proc/bus/input/devices");
  n = read (fd, text, sizeof text - 1);
  close (fd);
  if (n < 0)
    fail ("/proc/bus/input/devices");
  text[n] = '\0';
  for (char *line = strtok (text, "\n"); line != NULL; line = strtok (NULL, "\n"))
    {
      if (strncmp (line, "N: Name=", 8) == 0)
        snprintf (current, sizeof current, "%s", line + 8);
      else if (strncmp (line, "H: Handlers=", 12) == 0
               && (strstr (line, " kbd ") != NULL || strstr (line, "=kbd ") != NULL))
        {
          snprintf (name, size, "%s", current);
          return 1;
        }
    }
  return 0;
}

/* atkbd probes its port from a work queue, possibly after /init has
 * started: wait for the input device's uevent instead of guessing a delay.
 * The socket is bound before the first look, so no event falls between. */
static void
wait_for_keyboard (char *name, size_t size)
{
  struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
  char event[4096];
  int sock = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);

  if (sock < 0)
    fail ("uevent socket");
  if (bind (sock, (struct sockaddr *) &addr, sizeof addr) < 0)
    fail ("uevent bind");
  while (!find_keyboard (name, size))
    if (recv (sock, event, sizeof event, 0) < 0 && errno != EINTR && errno != ENOBUFS)
      fail ("uevent recv");
  close (sock);
}

int
main (void)
{
  char keyboard[128];
  struct termios raw;
  unsigned char buf[64];
  int tty;

  mount_or_fail ("devtmpfs", "/dev", "devtmpfs");
  out = open ("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (out < 0)
    fail ("/dev/ttyS0");
  mount_or_fail ("proc", "/proc", "proc");
  mount_or_fail ("sysfs", "/sys", "sysfs");
  /* Ctrl+Alt+Delete must not reset the guest under the test: with C-A-D
   * off the kernel signals init instead (and medium-raw mode bypasses the
   * VT's own key handling anyway). */
  if (reboot (RB_DISABLE_CAD) < 0)
    fail ("reboot (RB_DISABLE_CAD)");

  wait_for_keyboard (keyboard, sizeof keyboard);

  tty = open ("/dev/tty1", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0)
    fail ("/dev/tty1");
  /* The keyboard's keys go to the foreground VT: make it ours. */
  if (ioctl (tty, VT_ACTIVATE, 1) < 0 || ioctl (tty, VT_WAITACTIVE, 1) < 0)
    fail ("VT_ACTIVATE tty1");
  if (tcgetattr (tty, &raw) < 0)
    fail ("tcgetattr tty1");
  cfmakeraw (&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr (tty, TCSANOW, &raw) < 0)
    fail ("tcsetattr tty1");
  if (ioctl (tty, KDSKBMODE, K_MEDIUMRAW) < 0)
    fail ("KDSKBMODE K_MEDIUMRAW tty1");
  say (PREFIX "ready: keys of %s on tty1", keyboard);

  /* Medium-raw bytes: bit 7 is the release, bits 0-6 the keycode; a 0
   * byte starts a keycode above 127, in the 7-bit halves of the next two
   * bytes (keyboard.c's kbd_keycode). */
  int pending = 0, up = 0;
  unsigned int code = 0;
  for (;;)
    {
      ssize_t n = read (tty, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        fail ("read tty1");
      for (ssize_t i = 0; i < n; i++)
        {
          unsigned char b = buf[i];
          if (pending == 0)
            {
              up = (b & 0x80) != 0;
              code = b & 0x7f;
              if (code == 0)
                {
                  pending = 2;
                  continue;
                }
            }
          else
            {
              code = (code << 7) | (b & 0x7f);
              if (--pending > 0)
                continue;
            }
          say (PREFIX "key %u %s", code, up ? "up" : "down");
        }
    }
}
