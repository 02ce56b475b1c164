#!/usr/bin/env node
// `npm run build`: files the compiled code reads at run time from beside its module are copied next to the compiled
// JavaScript (tsc copies only what it compiles): the gRPC frontend's .proto files, the dashboard's page.
import { cpSync } from 'node:fs';

cpSync('src/frontends/grpc/proto', 'dist/src/frontends/grpc/proto', { recursive: true });
cpSync('src/dashboard/assets', 'dist/src/dashboard/assets', { recursive: true });
