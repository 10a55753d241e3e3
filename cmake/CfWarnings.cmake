# Warning and sanitizer flags as INTERFACE targets: every target of ours links
# cf_warnings (and through it the sanitizer flags chosen at configure time).
add_library(cf_warnings INTERFACE)
target_compile_options(cf_warnings INTERFACE
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wvla -Wconversion -Wno-sign-conversion)
target_compile_definitions(cf_warnings INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
if(CF_WERROR)
    target_compile_options(cf_warnings INTERFACE -Werror)
endif()

if(CF_SANITIZE)
    target_compile_options(cf_warnings INTERFACE
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
    target_link_options(cf_warnings INTERFACE -fsanitize=address,undefined)
endif()
if(CF_TSAN)
    target_compile_options(cf_warnings INTERFACE -fsanitize=thread -fno-omit-frame-pointer -g)
    target_link_options(cf_warnings INTERFACE -fsanitize=thread)
    # librdkafka's C11 threads made visible to TSan (see the file); linked
    # into every executable, where the dynamic linker finds it first.
    add_library(cf_tsan_threads OBJECT ${CMAKE_SOURCE_DIR}/services/common/tsan/c11threads.c)
    target_compile_options(cf_tsan_threads PRIVATE -fsanitize=thread -g)
    target_link_libraries(cf_warnings INTERFACE
        "$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:$<TARGET_OBJECTS:cf_tsan_threads>>")
endif()
