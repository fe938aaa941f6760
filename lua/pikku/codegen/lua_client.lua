return { generate = function() return "" end }
