"""Runs one call through a cloud vendor's official Python SDK, for the drop-in tests.

Reads a JSON object on stdin: {"sdk", "endpoint" (host:port), "key", "secret", "action",
"params" (the API's own parameter names)}. `sdk` is one of
  alibaba-v3     alibabacloud_cloudauth20190307 (Tea, ACS3-HMAC-SHA256)
  alibaba-rpc    aliyun-python-sdk-cloudauth (RPC, HMAC-SHA1)
  tencent-tc3    tencentcloud-sdk-python-faceid (TC3-HMAC-SHA256)
  tencent-hmac256, tencent-hmac1   the same SDK with the older form signing
Prints one JSON object: {"body": the parsed response} or {"error": {"kind", "code", "message",
"status"}} as the SDK raised it. Nothing here knows Shiren: these are the SDKs' documented calls.
"""
import json
import re
import sys


def snake(name):
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])", "_", name).lower()


def alibaba_v3(job):
    from alibabacloud_cloudauth20190307 import models
    from alibabacloud_cloudauth20190307.client import Client
    from alibabacloud_tea_openapi import models as open_api
    from alibabacloud_tea_util import models as util

    config = open_api.Config(access_key_id=job["key"], access_key_secret=job["secret"],
                             endpoint=job["endpoint"], protocol="http")
    client = Client(config)
    if not hasattr(models, job["action"] + "Request"):
        # An action the SDK has no model for: the SDK's generic call, as its docs show.
        from alibabacloud_tea_openapi.utils import Utils as OpenApiUtil
        params = open_api.Params(action=job["action"], version="2019-03-07", protocol="HTTP", pathname="/",
                                 method="POST", auth_type="AK", style="RPC", body_type="json",
                                 req_body_type="formData")
        request = open_api.OpenApiRequest(query=OpenApiUtil.query(job["params"]))
        return client.call_api(params, request, util.RuntimeOptions())["body"]
    request = getattr(models, job["action"] + "Request")().from_map(job["params"])
    method = getattr(client, snake(job["action"]) + "_with_options")
    return method(request, util.RuntimeOptions()).body.to_map()


def alibaba_rpc(job):
    import importlib
    from aliyunsdkcore.client import AcsClient

    client = AcsClient(job["key"], job["secret"], "cn-hangzhou")
    try:
        module = importlib.import_module("aliyunsdkcloudauth.request.v20190307." + job["action"] + "Request")
    except ImportError:
        # An action the SDK has no request class for: its generic CommonRequest.
        from aliyunsdkcore.request import CommonRequest
        request = CommonRequest(domain=job["endpoint"], version="2019-03-07", action_name=job["action"])
        request.set_protocol_type("http")
        request.set_method("POST")
        for name, value in job["params"].items():
            request.add_query_param(name, value)
        return json.loads(client.do_action_with_exception(request))
    module = importlib.import_module("aliyunsdkcloudauth.request.v20190307." + job["action"] + "Request")
    request = getattr(module, job["action"] + "Request")()
    request.set_endpoint(job["endpoint"])
    request.set_protocol_type("http")
    for name, value in job["params"].items():
        getattr(request, "set_" + name)(value)
    return json.loads(client.do_action_with_exception(request))


def tencent(job, sign_method):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.faceid.v20180301 import faceid_client, models

    profile = ClientProfile(httpProfile=HttpProfile(endpoint=job["endpoint"], protocol="http"),
                            signMethod=sign_method)
    client = faceid_client.FaceidClient(credential.Credential(job["key"], job["secret"]), "", profile)
    if not hasattr(models, job["action"] + "Request"):
        # An action the SDK has no model for: its generic JSON call.
        return client.call_json(job["action"], job["params"])["Response"]
    request = getattr(models, job["action"] + "Request")()
    request.from_json_string(json.dumps(job["params"]))
    return json.loads(getattr(client, job["action"])(request).to_json_string())


def main():
    job = json.load(sys.stdin)
    runners = {
        "alibaba-v3": alibaba_v3,
        "alibaba-rpc": alibaba_rpc,
        "tencent-tc3": lambda j: tencent(j, "TC3-HMAC-SHA256"),
        "tencent-hmac256": lambda j: tencent(j, "HmacSHA256"),
        "tencent-hmac1": lambda j: tencent(j, "HmacSHA1"),
    }
    try:
        out = {"body": runners[job["sdk"]](job)}
    except Exception as e:  # the SDK's own exception is the result under test
        code = getattr(e, "code", None) or getattr(e, "get_error_code", lambda: None)()
        message = getattr(e, "message", None) or getattr(e, "get_error_msg", lambda: str(e))()
        status = getattr(e, "statusCode", None) or getattr(e, "get_http_status", lambda: None)()
        out = {"error": {"kind": type(e).__name__, "code": code, "message": str(message), "status": status}}
    json.dump(out, sys.stdout, ensure_ascii=False, default=str)


main()
