"""A client on gRPC's C core (Python grpcio, the core tritonclient and perf_analyzer use) against the gRPC frontend.

Usage: python3 python_client.py HOST:PORT PROTO_DIR OUT_DIR
Compiles the vendored protos with grpc_tools into OUT_DIR, calls the server, prints one JSON object of what it saw.
Run by test/grpc/python-client.test.ts, which skips when grpcio / grpcio-tools are not installed.
"""
import json
import struct
import sys

from grpc_tools import protoc


def main() -> None:
    target, proto_dir, out_dir = sys.argv[1:4]
    rc = protoc.main(['protoc', f'-I{proto_dir}', f'--python_out={out_dir}', f'--grpc_python_out={out_dir}',
                      'grpc_service.proto', 'model_config.proto', 'health.proto'])
    if rc != 0:
        raise SystemExit(f'protoc failed: {rc}')
    sys.path.insert(0, out_dir)
    import grpc
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as rpc
    import health_pb2
    import health_pb2_grpc

    out = {}
    with grpc.insecure_channel(target, options=[('grpc.max_receive_message_length', -1)]) as channel:
        stub = rpc.GRPCInferenceServiceStub(channel)
        out['live'] = stub.ServerLive(pb.ServerLiveRequest()).live
        out['ready'] = stub.ServerReady(pb.ServerReadyRequest()).ready
        meta = stub.ModelMetadata(pb.ModelMetadataRequest(name='mlp'))
        out['inputs'] = [[t.name, t.datatype, list(t.shape)] for t in meta.inputs]
        config = stub.ModelConfig(pb.ModelConfigRequest(name='mlp')).config
        out['max_batch_size'] = config.max_batch_size

        x = [((i % 8) / 8.0) - 0.5 for i in range(8)]
        req = pb.ModelInferRequest(model_name='mlp', id='py-1')
        t = req.inputs.add()
        t.name, t.datatype = 'input', 'FP32'
        t.shape.extend([1, 8])
        req.parameters['priority'].uint64_param = 1
        req.parameters['timeout'].int64_param = 10_000_000
        req.raw_input_contents.append(struct.pack('<8f', *x))
        res = stub.ModelInfer(req)
        out['infer'] = {'id': res.id, 'model': res.model_name, 'version': res.model_version,
                        'outputs': [[o.name, o.datatype, list(o.shape)] for o in res.outputs],
                        'values': list(struct.unpack('<2f', res.raw_output_contents[0])),
                        'raw_count': len(res.raw_output_contents)}

        typed = pb.ModelInferRequest(model_name='mlp')
        t = typed.inputs.add()
        t.name, t.datatype = 'input', 'FP32'
        t.shape.extend([1, 8])
        t.contents.fp32_contents.extend(x)
        out['typed_values'] = list(struct.unpack('<2f', stub.ModelInfer(typed).raw_output_contents[0]))

        try:
            stub.ModelInfer(pb.ModelInferRequest(model_name='nope', inputs=[req.inputs[0]], raw_input_contents=req.raw_input_contents))
            out['unknown'] = 'answered'
        except grpc.RpcError as e:
            out['unknown'] = [e.code().name, e.details()]

        def requests():
            for i in range(5):
                r = pb.ModelInferRequest()
                r.CopyFrom(req)
                r.id = f's{i}'
                if i == 2:
                    r.model_name = 'nope'
                yield r
        out['stream'] = [[m.infer_response.id, m.error_message != ''] for m in stub.ModelStreamInfer(requests())]
        out['unregister'] = str(stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest()))
        health = health_pb2_grpc.HealthStub(channel)
        out['health'] = health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest()).status)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
