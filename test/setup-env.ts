// Runs before every test file: quiet the AWS SDK's Node-version notice (see design notes, 9).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
