#!/usr/bin/env node
// `npm run build`: the gRPC frontend loads its .proto files at run time from beside its module, so they are copied
// next to the compiled JavaScript (tsc copies only what it compiles).
import { cpSync } from 'node:fs';

cpSync('src/frontends/grpc/proto', 'dist/src/frontends/grpc/proto', { recursive: true });
