/* sd_service.h - running as a systemd service: socket activation and readiness notification.
 *
 * sd_service_listener() takes the listening socket systemd passed (LISTEN_FDS/LISTEN_PID, one
 * ListenStream= of a .socket unit): 1 with *fd set (made non-blocking and close-on-exec, as the
 * loops expect), 0 when the process was not socket-activated, or a negative errno with *why
 * saying what was wrong (-EINVAL: more than one socket, or one that is not a listening TCP
 * socket; ioserve serves one address).  The environment variables are unset, so a child never
 * takes them for its own.
 *
 * sd_service_ready() and sd_service_stopping() tell the service manager (NOTIFY_SOCKET, for
 * Type=notify units) that the server serves, with its start-up line as the status, and that
 * it has begun to shut down.  Without NOTIFY_SOCKET they do nothing; a lost notification is
 * not an error of the server (systemd's own timeout answers it), so they return nothing.
 */
#ifndef IOSERVE_SD_SERVICE_H
#define IOSERVE_SD_SERVICE_H

int sd_service_listener(int *fd, const char **why);
void sd_service_ready(const char *status);
void sd_service_stopping(void *unused);

#endif
