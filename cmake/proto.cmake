# Message codecs are generated at build time from proto/*.def (one
# definition of each message) into C (compiled into libirohds) and Python
# (staged into the Python package as irohds/_proto.py).
file(GLOB IROHDS_PROTO_DEFS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/proto/*.def)
set(IROHDS_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(IROHDS_PY_STAGE ${CMAKE_BINARY_DIR}/python)
add_custom_command(
  OUTPUT ${IROHDS_GEN_DIR}/irh_msgs.h ${IROHDS_GEN_DIR}/irh_msgs.c
         ${IROHDS_PY_STAGE}/irohds/_proto.py
  COMMAND ${IROHDS_PYTHON} ${CMAKE_SOURCE_DIR}/proto/gen.py
          ${IROHDS_GEN_DIR} ${IROHDS_PY_STAGE}/irohds/_proto.py ${IROHDS_PROTO_DEFS}
  DEPENDS ${CMAKE_SOURCE_DIR}/proto/gen.py ${IROHDS_PROTO_DEFS}
  COMMENT "Generating message codecs from proto/*.def")
add_custom_target(irohds_proto DEPENDS ${IROHDS_GEN_DIR}/irh_msgs.c
                  ${IROHDS_PY_STAGE}/irohds/_proto.py)
