# virtswarm_dbus_codegen(<target> <xml>...)
# Runs sdbus-c++-xml2cpp on each interface XML at build time and exposes the generated
# headers as <virtswarm/gen/<interface>_adaptor.h> and <..._proxy.h> through an INTERFACE
# target. The generated code is never checked in: the XML is the contract.
find_program(SDBUSCPP_XML2CPP sdbus-c++-xml2cpp REQUIRED)

function(virtswarm_dbus_codegen target)
    set(out_root ${CMAKE_BINARY_DIR}/generated)
    set(out_dir ${out_root}/virtswarm/gen)
    file(MAKE_DIRECTORY ${out_dir})
    set(headers)
    foreach(xml IN LISTS ARGN)
        get_filename_component(iface ${xml} NAME_WE)
        get_filename_component(iface_full ${xml} NAME)
        string(REGEX REPLACE "\\.xml$" "" iface ${iface_full})
        set(adaptor ${out_dir}/${iface}_adaptor.h)
        set(proxy ${out_dir}/${iface}_proxy.h)
        add_custom_command(
            OUTPUT ${adaptor} ${proxy}
            COMMAND ${SDBUSCPP_XML2CPP} ${xml} --adaptor=${adaptor} --proxy=${proxy}
            DEPENDS ${xml}
            COMMENT "Generating D-Bus adaptor and proxy for ${iface}"
            VERBATIM)
        list(APPEND headers ${adaptor} ${proxy})
    endforeach()
    add_custom_target(${target}-headers DEPENDS ${headers})
    add_library(${target} INTERFACE)
    add_dependencies(${target} ${target}-headers)
    target_include_directories(${target} SYSTEM INTERFACE ${out_root})
endfunction()
