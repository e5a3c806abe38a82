{
  "targets": [
    {
      "target_name": "weave_native",
      "sources": ["src/addon.cc", "src/errors.cc", "src/netns.cc", "src/pollable-fd.cc", "src/fd-handle.cc", "src/batch-handle.cc", "src/udp.cc", "src/vnet-frames.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
