# Where the bus, polkit and systemd find our files. They are cache variables so a
# distribution can point them elsewhere; the defaults are what Debian's dbus-daemon
# and polkitd read when the prefix is /usr.
set(VIRTSWARM_DBUS_SYSTEM_SERVICES_DIR "${CMAKE_INSTALL_FULL_DATADIR}/dbus-1/system-services"
    CACHE PATH "D-Bus system activation files")
set(VIRTSWARM_DBUS_SESSION_SERVICES_DIR "${CMAKE_INSTALL_FULL_DATADIR}/dbus-1/services"
    CACHE PATH "D-Bus session activation files")
set(VIRTSWARM_DBUS_SYSTEM_POLICY_DIR "${CMAKE_INSTALL_FULL_DATADIR}/dbus-1/system.d"
    CACHE PATH "D-Bus system bus policy files")
set(VIRTSWARM_DBUS_INTERFACES_DIR "${CMAKE_INSTALL_FULL_DATADIR}/dbus-1/interfaces"
    CACHE PATH "Introspection XML")
set(VIRTSWARM_POLKIT_ACTIONS_DIR "${CMAKE_INSTALL_FULL_DATADIR}/polkit-1/actions"
    CACHE PATH "polkit action files")
set(VIRTSWARM_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
    CACHE PATH "systemd system units")
set(VIRTSWARM_LIBEXEC_DIR "${CMAKE_INSTALL_FULL_LIBEXECDIR}/virtswarm")
set(VIRTSWARM_SBIN_DIR "${CMAKE_INSTALL_FULL_SBINDIR}")
set(VIRTSWARM_SYSTEMD_USER_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/user"
    CACHE PATH "systemd user units")
set(VIRTSWARM_SYSTEMD_PRESET_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system-preset"
    CACHE PATH "systemd presets for system units")
set(VIRTSWARM_SYSTEMD_USER_PRESET_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/user-preset"
    CACHE PATH "systemd presets for user units")
