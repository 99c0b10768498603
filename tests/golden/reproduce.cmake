# SPDX-License-Identifier: MIT
# Regenerates the golden corpus into WORK and fails if it differs from the committed one.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus)
execute_process(COMMAND ${MKCORPUS} ${WORK}/corpus ${WORK}/expected-errors.txt
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mkcorpus failed: ${rc}")
endif()
file(GLOB made RELATIVE ${WORK}/corpus ${WORK}/corpus/*)
file(GLOB committed RELATIVE ${GOLDEN}/corpus ${GOLDEN}/corpus/*)
list(SORT made)
list(SORT committed)
if(NOT made STREQUAL committed)
    message(FATAL_ERROR "corpus file lists differ:\n made: ${made}\n committed: ${committed}")
endif()
foreach(f IN LISTS made ITEMS ../expected-errors.txt)
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/corpus/${f}
                            ${GOLDEN}/corpus/${f} RESULT_VARIABLE diff)
    if(NOT diff EQUAL 0)
        message(FATAL_ERROR "${f}: differs from what mkcorpus makes now "
                            "(regenerate with the golden-corpus target and review)")
    endif()
endforeach()
