# Copies the dashboard into one flat folder the service serves (OUT): every
# file of web/src and ECharts' minified build from web/node_modules (put
# there by `npm ci`, which deploy/local/deps runs from the lock file).
# Run as `cmake -DSRC=... -DMODULES=... -DOUT=... -P dashboard.cmake`.
set(echarts ${MODULES}/echarts/dist/echarts.min.js)
if(NOT EXISTS ${echarts})
    message(FATAL_ERROR "dashboard: ${echarts} is missing; run deploy/local/deps (npm ci in "
        "services/analytics/web)")
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
file(GLOB files LIST_DIRECTORIES false ${SRC}/*)
file(COPY ${files} ${echarts} DESTINATION ${OUT})
