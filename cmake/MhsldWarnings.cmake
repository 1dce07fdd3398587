# The project's warning set, applied per target (mhsld_warnings(<target>)).
set(MHSLD_WARNING_FLAGS
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wstrict-prototypes
  -Wmissing-prototypes -Wvla -Wpointer-arith -Wcast-qual -Wwrite-strings
  -Wformat=2 -Wundef -Wnull-dereference -Wdouble-promotion)
function(mhsld_warnings tgt)
  target_compile_options(${tgt} PRIVATE ${MHSLD_WARNING_FLAGS})
  if(MHSLD_WERROR)
    target_compile_options(${tgt} PRIVATE -Werror)
  endif()
endfunction()
