# ASan + UBSan for the whole build, daemons included: CI runs every test tier with them.
if(VIRTSWARM_SANITIZERS)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()
