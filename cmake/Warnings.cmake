# Warnings for our own code only; generated and third-party headers are SYSTEM includes.
add_library(virtswarm-warnings INTERFACE)
target_compile_options(virtswarm-warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference -Wformat=2
    -Wimplicit-fallthrough)
if(VIRTSWARM_WERROR)
    target_compile_options(virtswarm-warnings INTERFACE -Werror)
endif()
target_compile_definitions(virtswarm-warnings INTERFACE _GLIBCXX_ASSERTIONS)
